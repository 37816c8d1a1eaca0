"""Checks an entry point runs before a Trainer writes anything (logs, configs, checkpoints)."""

from __future__ import annotations

import os

from lightning import LightningDataModule


def local_rank() -> int:
    """This process's rank on its node as a launcher set it (0 when it is the only one)."""
    return int(os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", 0)))


def load_data_early(datamodule: LightningDataModule, stage: str) -> None:
    """Downloads (if needed) and reads the data `stage` uses, so that a missing, corrupt or truncated file
    ends the run before the Trainer creates its log directories.

    One process per node does it, as Lightning's `prepare_data`; the others read the data later in `fit`,
    when it is there. Lightning's own calls to `prepare_data` and `setup` then find it done.
    """
    if local_rank() == 0:
        datamodule.prepare_data()
        datamodule.setup(stage)
