"""One process per run directory: a second `train.py` pointed at a directory in use refuses to start.

The lock is an advisory `flock` on `<run dir>/.lock`: the operating system releases it when the process ends,
however it ends (kill -9 included), so a stale lock never blocks `resume=true`.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback as HydraCallback
from omegaconf import DictConfig

from infovae_lightning.errors import InfoVAEError

LOCK_NAME = ".lock"


class RunDirectoryError(InfoVAEError, OSError):
    """The run directory is in use by another process, or cannot be written."""


@contextmanager
def locked_run_dir(out: Path) -> Iterator[None]:
    """Holds the lock of run directory `out` (created if needed). Whatever this call created (the lock
    file; the directory, if it was absent and is empty again) is removed when it ends, unless the run left
    results there, so a failed pre-flight leaves nothing behind."""
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise RunDirectoryError(
            f"paths.output_dir: cannot write to {out} ({e.strerror}); choose a writable folder with "
            "hydra.run.dir=<folder> (or fix its permissions)"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise RunDirectoryError(
            f"run directory {out} is in use by {holder}; wait for it to end, or give this run another "
            "directory (hydra.run.dir=<folder>)"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}".encode(), 0)
        yield
    finally:
        (out / LOCK_NAME).unlink(missing_ok=True)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()


def unwritable_reason(folder: Path) -> str | None:
    """Why `folder` cannot be created or written (None: it can): its nearest existing ancestor is a file, or
    a folder this user may not write to."""
    ancestor = folder
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{ancestor} is not writable"
    return None


class OutputDirCheck(HydraCallback):
    """A Hydra callback (`hydra.callbacks` in `conf/train.yaml`): refuses an output folder that cannot be
    written with one `error:` line, before Hydra tries to create it (its own failure is a stack trace)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check("hydra.sweep.dir", config.hydra.sweep.dir)

    @staticmethod
    def _check(key: str, folder: str) -> None:
        reason = unwritable_reason(Path(folder).expanduser().absolute())
        if reason is not None:
            print(
                f"error: {key}: cannot write to {folder} ({reason}); "
                f"choose another folder with {key}=<folder>",
                file=sys.stderr,
            )
            sys.exit(1)
