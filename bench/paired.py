"""Speed ratios to the bare loop, measured in one process: bare steps run between windows of another loop.

`bench/throughput.py --paired` adds `PairedBareLoop` to `train.py` for (a)/(b), and runs pythae's trainer
with the same alternation for (c)/(b) (bench/pythae_loop.py). After the warm-up, windows alternate: `window`
steps of the measured loop, then `window` steps of the bare loop (bench/bare_loop.py: the same networks,
loss and optimizer, its own weights, batches indexed from the same training images), until `pairs` pairs
are timed. Each pair gives a ratio bare time / measured time; their median is the ratio reported.

Why: on a shared 2-core virtual machine one process runs the same steps 15% faster or slower than the next
(and the speed drifts within a process by as much, see docs/benchmarks.md), more than the overhead measured.
Two processes compare two samples of that noise; neighbouring windows of one process see the same machine
and the same allocator state, so the noise of their ratio is that of a few hundred milliseconds.

Each measured window runs from the end of the previous bare window (inside a step's end hook) to the same
point `window` steps later: exactly `window` steps of everything the loop does, hooks after ours included.
A window that spans an epoch's end or a validation is dropped.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from bench.bare_loop import BareModel, BareTrainer, batches


class AlternatingWindows:
    """The alternation itself: call `step_end` at the end of each step of the measured loop, `interrupt` when
    something else than training steps runs (an epoch's end, a validation).

    Args:
        bare: the bare loop's trainer; images: the training images it draws its batches from.
        window: steps per window; pairs: pairs of windows to time; warmup: steps before the first window.
    """

    def __init__(
        self, bare: BareTrainer, images: Tensor, window: int, pairs: int, warmup: int, device: torch.device
    ) -> None:
        if window < 1 or pairs < 1:
            raise ValueError(f"window and pairs must be >= 1, got {window} and {pairs}")
        self.bare, self.images, self.device = bare, images, device
        self.window, self.pairs, self.warmup = window, pairs, warmup
        self.steps = 0
        self.times: list[tuple[float, float]] = []  # (measured, bare) seconds per step, one per pair
        self.dropped = 0  # windows that spanned an epoch's end or a validation
        self.batch_size = 0
        self._start: float | None = None  # when the current measured window began (None: not begun)
        self._in_window = 0
        self._stream: Any = None

    def interrupt(self) -> None:
        if self._start is not None and self._in_window:
            self.dropped += 1
        self._start = None

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def _bare_steps(self, n: int) -> float:
        start = self._now()
        for _ in range(n):
            self.bare.step(next(self._stream))
        return (self._now() - start) / n

    def step_end(self, batch_size: int) -> bool:
        """Counts a step of the measured loop (of `batch_size` images); True once every pair is timed."""
        self.steps += 1
        if self.steps < self.warmup:
            return False
        if self.steps == self.warmup:
            self.batch_size = batch_size
            generator = torch.Generator(device=self.device).manual_seed(0)
            self._stream = batches(self.images.to(self.device), batch_size, generator)
            self._bare_steps(self.warmup)
        elif self._start is not None:
            self._in_window += 1
            if self._in_window < self.window:
                return False
            measured = (self._now() - self._start) / self.window
            self.times.append((measured, self._bare_steps(self.window)))
            if len(self.times) >= self.pairs:
                return True
        self._start, self._in_window = self._now(), 0
        return False

    def results(self) -> dict[str, Any]:
        measured, bare = (statistics.median(t) for t in zip(*self.times, strict=True))
        return {
            "batch_size": self.batch_size,
            "window": self.window,
            "pairs": len(self.times),
            "dropped": self.dropped,
            "measured_s_per_step": measured,
            "bare_s_per_step": bare,
            "ratio": statistics.median(b / m for m, b in self.times),  # measured speed / bare speed
            "times": self.times,
        }

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.results(), indent=1))


def bare_trainer(model_cfg: dict[str, Any], kind: str, device: torch.device) -> BareTrainer:
    return BareTrainer(BareModel(model_cfg, kind).to(device), model_cfg)


class PairedBareLoop(Callback):
    """(a)/(b): alternates windows of a `train.py` run's steps and of the bare loop's; writes to `path`.

    Args:
        model: the bare loop's model kind (elbo, mmd, stein, aae), the run's model.
        path: where the JSON results go when the pairs are done (fit stops then); None: not written.
        window: steps per window (a multiple of the logging interval keeps windows alike).
        pairs, warmup: see `AlternatingWindows`.
        images: the bare loop's images; None: the run's data module's training images.
    """

    def __init__(
        self,
        model: str,
        path: str | None = None,
        window: int = 20,
        pairs: int = 15,
        warmup: int = 10,
        images: Tensor | None = None,
    ) -> None:
        self.model, self.path, self.images = model, path, images
        self.window, self.pairs, self.warmup = window, pairs, warmup
        self.windows: AlternatingWindows | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        hparams = dict(pl_module.hparams)  # the bare model is built from the run's own hyperparameters
        images = self.images if self.images is not None else trainer.datamodule.datasets["train"].examples.x
        bare = bare_trainer(hparams, self.model, pl_module.device)
        device = pl_module.device
        self.windows = AlternatingWindows(bare, images, self.window, self.pairs, self.warmup, device)

    def _interrupt(self, *args: Any) -> None:
        if self.windows is not None:  # the sanity check's validation comes before on_train_start
            self.windows.interrupt()

    on_train_epoch_start = on_validation_start = _interrupt

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        if self.windows.step_end(int(batch[0].shape[0])):  # the run's batches are (images, labels)
            trainer.should_stop = True
            if self.path:
                self.windows.write(self.path)
