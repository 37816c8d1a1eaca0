"""A callback for tests that send a signal to a training process: at training step `step` it writes its
process id to `marker`, then waits (up to a minute) until the signal has asked the Trainer to stop."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lightning.pytorch import Callback


class WaitForSignalAtStep(Callback):
    def __init__(self, step: int, marker: str) -> None:
        self.step, self.marker = step, Path(marker)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            deadline = time.monotonic() + 60
            while not trainer.should_stop and time.monotonic() < deadline:
                time.sleep(0.05)
