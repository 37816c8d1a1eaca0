"""What one job leaves to the next in the same process (nothing), and W&B's fallback when it cannot start."""

from __future__ import annotations

import os

import pytest

from infovae_lightning.run.jobs import isolated_job
from infovae_lightning.run.loggers import WandbLogger


def test_a_job_leaves_the_environment_as_it_found_it(monkeypatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("KEPT", "1")
    with isolated_job():
        os.environ["WANDB_MODE"] = "dryrun"  # what Lightning's offline W&B logger sets
        os.environ["MASTER_PORT"] = "12910"  # what Lightning's DDP launcher sets
        os.environ["KEPT"] = "2"
    assert "WANDB_MODE" not in os.environ and "MASTER_PORT" not in os.environ
    assert os.environ["KEPT"] == "1"


def test_wandb_logs_offline_when_it_cannot_start_online(tmp_path, monkeypatch) -> None:
    import wandb

    modes = []
    real_init = wandb.init

    def init(**kwargs):
        modes.append(kwargs.get("mode"))
        if kwargs.get("mode") != "offline":
            raise wandb.errors.CommError("network unreachable (mocked)")
        return real_init(**kwargs)

    monkeypatch.setattr(wandb, "init", init)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    logger = WandbLogger(project="p", save_dir=str(tmp_path), offline=False)
    with pytest.warns(UserWarning, match="W&B could not start a run .*CommError.*logging offline"):
        run = logger.experiment
    try:
        assert modes == [None, "offline"] and run.offline
    finally:
        wandb.finish()
        os.environ.pop("WANDB_MODE", None)
