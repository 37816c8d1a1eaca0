"""(a)/(b) measured inside one process: the bare loop runs between windows of `train.py`'s own steps.

`bench/throughput.py --paired` adds this callback to `train.py`. After the warm-up, windows alternate:
`window` steps of the Lightning run, then `window` steps of the bare loop (bench/bare_loop.py: the same
networks, loss and optimizer, its own weights, batches indexed from the run's own training tensor), until
`pairs` pairs are timed. Each pair gives a ratio bare time / Lightning time; their median is (a)/(b).

Why: on a shared 2-core virtual machine one process runs the same steps 15% faster or slower than the next
(and the speed drifts within a process by as much, see docs/benchmarks.md), more than the overhead measured.
Two processes compare two samples of that noise; neighbouring windows of one process see the same machine
and the same allocator state, so the noise of their ratio is that of a few hundred milliseconds.

Each Lightning window runs from the end of the previous bare window (inside a step's `on_train_batch_end`)
to the same point `window` steps later: exactly `window` steps of everything the run does, hooks after this
callback included. A window that spans an epoch's end or a validation is dropped.
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

from bench.bare_loop import BareModel, BareTrainer, batches


class PairedBareLoop(Callback):
    """Alternates windows of the run's training steps and of the bare loop's; writes the times to `path`.

    Args:
        model: the bare loop's model kind (elbo, mmd, stein, aae), the run's model.
        path: where the JSON results go when the pairs are done.
        window: steps per window (a multiple of the logging interval keeps windows alike).
        pairs: pairs of windows to time; fit stops then.
        warmup: the run's steps (and then the bare loop's) before the first window.
    """

    def __init__(self, model: str, path: str, window: int = 20, pairs: int = 15, warmup: int = 10) -> None:
        if window < 1 or pairs < 1:
            raise ValueError(f"window and pairs must be >= 1, got {window} and {pairs}")
        self.model, self.path = model, path
        self.window, self.pairs, self.warmup = window, pairs, warmup
        self.batches = 0
        self.times: list[tuple[float, float]] = []  # (Lightning, bare) seconds per step, one per pair
        self.dropped = 0  # windows that spanned an epoch's end or a validation
        self._start: float | None = None  # when the current Lightning window began (None: not begun)
        self._in_window = 0
        self._bare: BareTrainer | None = None
        self._stream: Any = None
        self._images: torch.Tensor | None = None
        self._batch_size = 0
        self._device = torch.device("cpu")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._device = pl_module.device
        hparams = dict(pl_module.hparams)
        bare = BareModel(hparams, self.model).to(self._device)
        self._bare = BareTrainer(bare, hparams)
        self._images = trainer.datamodule.datasets["train"].examples.x.to(self._device)

    def _interrupt(self, *args: Any) -> None:
        if self._start is not None and self._in_window:
            self.dropped += 1
        self._start = None

    on_train_epoch_start = on_validation_start = _interrupt

    def _now(self) -> float:
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        return time.perf_counter()

    def _bare_steps(self, n: int) -> float:
        start = self._now()
        for _ in range(n):
            self._bare.step(next(self._stream))
        return (self._now() - start) / n

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        self.batches += 1
        if self.batches < self.warmup:
            return
        if self.batches == self.warmup:
            self._batch_size = int(batch[0].shape[0])  # the run's batches are (images, labels)
            generator = torch.Generator(device=self._device).manual_seed(0)
            self._stream = batches(self._images, self._batch_size, generator)
            self._bare_steps(self.warmup)
        elif self._start is not None:
            self._in_window += 1
            if self._in_window < self.window:
                return
            lightning = (self._now() - self._start) / self.window
            self.times.append((lightning, self._bare_steps(self.window)))
            if len(self.times) >= self.pairs:
                trainer.should_stop = True
                self._write()
                return
        self._start, self._in_window = self._now(), 0

    def results(self) -> dict[str, Any]:
        lightning, bare = (statistics.median(t) for t in zip(*self.times, strict=True))
        return {
            "batch_size": self._batch_size,
            "window": self.window,
            "pairs": len(self.times),
            "dropped": self.dropped,
            "lightning_s_per_step": lightning,
            "bare_s_per_step": bare,
            "a_over_b": statistics.median(b / a for a, b in self.times),
            "times": self.times,
        }

    def _write(self) -> None:
        Path(self.path).write_text(json.dumps(self.results(), indent=1))
