"""Preemption: SIGTERM, SIGINT and SIGUSR1 stop a run at the current step, with a checkpoint of that step.

What schedulers send: SLURM preemption, `scancel` and `docker stop` send SIGTERM (then SIGKILL after a grace
period), SLURM's `--signal=USR1@<seconds>` sends SIGUSR1 before a time limit, and Ctrl-C sends SIGINT. On the
first of these signals the run finishes the optimizer step in progress, writes `last.ckpt` at this step
(`checkpoints.LatestCheckpoint`), then stops as early stopping would: Lightning validates the current weights
(the scheduled metrics run too, see `metrics.evaluation`) and `last.ckpt` is written again with the results.
The entry point then records `"status": "interrupted"` and the signal in `summary.json`, marks the W&B run as
preempting, and exits with 128 + the signal's number, so a scheduler sees a failure and `resume=true`
continues from this step. A second signal (or the SIGKILL that ends a grace period) stops at once: during the
final validation the stopped step is already saved; during a checkpoint's write the previous `last.ckpt`
stays (checkpoints are written then renamed), and the log's last line says which step it holds.

Lightning installs its own SIGTERM handler while it fits (it raises an exception after the batch, which skips
the validation and the checkpoint): `Preemption.on_train_start` puts this one back for the three signals.
Under SLURM with auto-requeue (Lightning's `SLURMEnvironment`), Lightning's SIGUSR1 handler runs first (it
saves `hpc_ckpt_<n>.ckpt` and calls `scontrol requeue`), then this one stops the run: the requeued job resumes
with `resume=true` from `last.ckpt` when its run directory is fixed (`hydra.run.dir=...`).

Under DDP the ranks agree to stop (any rank that received a signal stops them all) once per step.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


class Interrupted(BaseException):
    """A second signal: stop now, without the orderly end (a BaseException: no `except Exception` eats it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"{signal.Signals(signum).name} received twice: stopped at once")
        self.signum = signum


class Preemption(Callback):
    """Catches SIGTERM/SIGINT/SIGUSR1 from `install()` to `restore()`, and stops `fit` at the current step."""

    def __init__(self) -> None:
        self.signum: int | None = None  # the first signal received
        self._previous: dict[int, Any] = {}
        self._trainer: L.Trainer | None = None
        self._took_over = False

    @property
    def signal_name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum is not None else None

    @property
    def exit_code(self) -> int:
        """The conventional status of a process ended by the signal: 128 + its number."""
        assert self.signum is not None
        return 128 + self.signum

    # --- handlers -------------------------------------------------------------------------------------

    def install(self) -> None:
        """Handles the signals from now on (main thread only: Python delivers signals there)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in SIGNALS:
            self._previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._handle)

    def restore(self) -> None:
        """The handlers as they were before `install()`."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise Interrupted(signum)
        self.signum = signum
        if self._trainer is not None:
            self._trainer.should_stop = True

    def _chained(self, other: Callable[[int, Any], Any]) -> Callable[[int, Any], None]:
        def handle(signum: int, frame: Any) -> None:
            other(signum, frame)
            self._handle(signum, frame)

        return handle

    # --- Lightning hooks ------------------------------------------------------------------------------

    def on_sanity_check_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take_over(trainer)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._take_over(trainer)

    def _take_over(self, trainer: L.Trainer) -> None:
        """Replaces the handlers Lightning installed for `fit` (it restores ours when `fit` ends), keeping
        its SLURM auto-requeue handler of SIGUSR1 in front of ours."""
        self._trainer = trainer
        if self._took_over or not self._previous or threading.current_thread() is not threading.main_thread():
            return
        self._took_over = True
        for signum in SIGNALS:
            current = signal.getsignal(signum)
            slurm_requeue = signum == signal.SIGUSR1 and callable(current) and current != self._handle
            signal.signal(signum, self._chained(current) if slurm_requeue else self._handle)
        if self.signum is not None:  # received while setting up
            trainer.should_stop = True

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        stop = trainer.strategy.reduce_boolean_decision(self.signum is not None, all=False)
        if stop:
            trainer.should_stop = True

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer, self._took_over = None, False
