"""Training throughput of a run: images per second over its training steps, and its peak memory.

`bench/throughput.py` adds this callback to `train.py`'s own callbacks (`+callbacks.throughput=...`) to time
our Lightning path as users run it; it can be added to any run the same way:

    python train.py ... +callbacks.throughput._target_=bench.timing.Throughput \
        +callbacks.throughput.path=throughput.json
"""

from __future__ import annotations

import json
import re
import resource
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback


def reset_peak_rss() -> bool:
    """Restarts the process's resident-set high-water mark (Linux ≥ 4.0), so that the peak measured next is
    that of what follows (training), not of what came before (parsing the data files). False if unsupported.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_mb(field: str) -> float | None:
    try:
        return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024
    except (OSError, AttributeError):
        return None


def peak_rss_mb() -> float:
    """The largest resident set of this process since `reset_peak_rss` (or since it started), MB."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB


def rss_mb() -> float:
    """This process's resident set now, MB (nan where /proc is not available)."""
    now = _status_mb("VmRSS")
    return float("nan") if now is None else now


class Throughput(Callback):
    """Times the training steps after the first `warmup` ones: images/s, and peak memory during training.

    A step's time is the interval from the end of the previous batch to the end of this one, so it holds the
    loading of the batch, the step and every per-step hook. Intervals that span something else than a step
    are left out (with their images): the first batch of each epoch (what ends the previous epoch:
    validation, checkpoints, the new epoch's shuffle) and a batch after a mid-epoch validation. So a run of
    a few epochs and a bare loop of the same steps compare like for like; `skipped` counts them.

    On a GPU the clock is the host's: the model's NaN check (`Terms.check_finite`) already waits for the
    forward pass every step, and the device's remaining work is waited for at the end of training, so the
    sum of intervals is the device's time too.

    Args:
        warmup: steps run before timing starts (allocator, cuDNN's choice of kernels, torch.compile).
        path: if set, the results are written there as JSON when fit ends.
        stop_after: if set, fit stops once this many steps have been timed.
    """

    def __init__(self, warmup: int = 10, path: str | None = None, stop_after: int | None = None) -> None:
        if warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {warmup}")
        if stop_after is not None and stop_after < 1:
            raise ValueError(f"stop_after must be >= 1 or null, got {stop_after}")
        self.warmup = warmup
        self.path = path
        self.stop_after = stop_after
        self.batches = 0  # training batches seen
        self.steps = 0  # timed steps
        self.images = 0  # images in the timed steps
        self.seconds = 0.0
        self.skipped = 0  # steps after the warm-up left out: the first of an epoch, or after a validation
        self._previous_end: float | None = None  # None: the next interval does not follow a step
        self._device = torch.device("cpu")
        self._peak_reset = False
        self._rss_start = float("nan")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._device = pl_module.device
        if self._device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self._device)
        self._peak_reset = reset_peak_rss()
        self._rss_start = rss_mb()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._previous_end = None

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._previous_end = None

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        self.batches += 1
        if self.batches < self.warmup:
            return
        if self.batches == self.warmup and self._device.type == "cuda":
            torch.cuda.synchronize(self._device)  # the warm-up's queued work is not the timed steps'
        now = time.perf_counter()
        if self.batches > self.warmup:
            if self._previous_end is None:
                self.skipped += 1
            else:
                self.seconds += now - self._previous_end
                self.steps += 1
                self.images += _batch_size(batch)
        self._previous_end = now
        if self.stop_after is not None and self.steps >= self.stop_after:
            trainer.should_stop = True

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._device.type == "cuda" and self._previous_end is not None and self.steps:
            # Steps are queued asynchronously: the last one is over when the device is done with it.
            torch.cuda.synchronize(self._device)
            self.seconds += time.perf_counter() - self._previous_end

    def results(self) -> dict[str, Any]:
        # The resident set's peak during training (since the start of the process if it cannot be reset).
        peak: dict[str, Any] = {
            "peak_rss_mb": peak_rss_mb(),
            "peak_rss_since": "train" if self._peak_reset else "start",
            "rss_at_train_start_mb": self._rss_start,
        }
        if self._device.type == "cuda":
            peak["cuda_peak_mb"] = torch.cuda.max_memory_allocated(self._device) / 2**20
        return {
            "steps": self.steps,
            "images": self.images,
            "seconds": self.seconds,
            "images_per_s": self.images / self.seconds if self.seconds > 0 else float("nan"),
            "skipped": self.skipped,
            "warmup": self.warmup,
            **peak,
        }

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.path and trainer.is_global_zero:
            Path(self.path).write_text(json.dumps(self.results(), indent=1))


def _batch_size(batch: Any) -> int:
    x = batch[0] if isinstance(batch, list | tuple) else batch
    return int(x.shape[0])
