"""A callback for tests that send a signal to a training process: at training step `step` it writes its
process id to `marker`, then waits (up to a minute) until the signal has asked the Trainer to stop. With
`second_marker`, the validation that follows writes that file and waits (up to a minute) for a second signal,
which stops the run before that validation's checkpoint is written."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lightning.pytorch import Callback


class WaitForSignalAtStep(Callback):
    def __init__(self, step: int, marker: str, second_marker: str | None = None) -> None:
        self.step, self.marker = step, Path(marker)
        self.second_marker = Path(second_marker) if second_marker else None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            deadline = time.monotonic() + 60
            while not trainer.should_stop and time.monotonic() < deadline:
                time.sleep(0.05)

    def on_validation_start(self, trainer, pl_module) -> None:
        if self.second_marker is not None and trainer.should_stop and not self.second_marker.exists():
            self.second_marker.write_text(str(os.getpid()))
            time.sleep(60)  # the second signal's handler raises out of this sleep
