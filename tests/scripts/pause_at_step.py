"""A callback for tests that kill a training process mid-epoch: at training step `step` it writes its
process id to `marker` and sleeps, so the test can send SIGKILL at a known point."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lightning.pytorch import Callback


class PauseAtStep(Callback):
    def __init__(self, step: int, marker: str) -> None:
        self.step, self.marker = step, Path(marker)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            self.marker.write_text(str(os.getpid()))
            time.sleep(600)
