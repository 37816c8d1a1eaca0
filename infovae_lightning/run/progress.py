"""Progress that reads well where it lands: a live bar on a terminal, plain lines in a log file.

On a terminal, Lightning's TQDM bar without its nested validation and sanity-check bars (during `fit` the
epoch bar is enough; `trainer.validate`/`test` keep theirs). When stdout is not a terminal (a log file, a
SLURM job, a CI log), carriage-return redraws would flood the file, so one plain line per epoch is printed.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar


class TerminalProgressBar(TQDMProgressBar):
    """Lightning's TQDM bar with the validation and sanity-check bars of `fit` switched off."""

    def init_sanity_tqdm(self) -> Any:
        bar = super().init_sanity_tqdm()
        bar.disable = True
        return bar

    def init_validation_tqdm(self) -> Any:
        bar = super().init_validation_tqdm()
        if self.trainer.state.fn == "fit":
            bar.disable = True
        return bar


class EpochLines(ProgressBar):
    """One line per training epoch on stdout: epoch, step, the progress-bar metrics, seconds so far."""

    def __init__(self) -> None:
        super().__init__()
        self.enabled = True
        self.start = time.perf_counter()

    @property
    def is_enabled(self) -> bool:
        return self.enabled

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (self.enabled and trainer.is_global_zero):
            return
        epochs = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        metrics = {k: v for k, v in self.get_metrics(trainer, pl_module).items() if k != "v_num"}
        values = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())
        seconds = time.perf_counter() - self.start
        epoch = f"epoch {trainer.current_epoch + 1}{epochs}"
        print(f"{epoch}  step {trainer.global_step}  {values}  ({seconds:.0f} s)", flush=True)


def progress_bar(refresh_rate: int = 10) -> ProgressBar:
    """The bar for where stdout goes: `TerminalProgressBar(refresh_rate)` on a terminal, else `EpochLines`."""
    return TerminalProgressBar(refresh_rate=refresh_rate) if sys.stdout.isatty() else EpochLines()
