"""Launchers and ready sweeps: jobs side by side with joblib, SLURM with one task per device, and every job of
every sweep in sweeps/ composing and building."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from helpers import check_job, compose_config, job_dirs, run_train
from hydra.utils import instantiate

from infovae_lightning.run.config import REPO

SWEEPS = sorted(p.stem for p in (REPO / "sweeps").glob("*.yaml"))
QUICK = ["trainer.max_epochs=1", "data.toy_size=300", "metrics=none", "trainer.enable_progress_bar=false"]


def test_joblib_runs_jobs_side_by_side(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_train(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "model=elbo,mmd",
        *QUICK,
        f"hydra.sweep.dir={sweep}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout  # the jobs ran in joblib's worker processes
    targets = [check_job(job)["config"]["model"]["_target_"] for job in job_dirs(sweep)]
    assert targets == ["infovae_lightning.models.ELBOVAE", "infovae_lightning.models.MMDVAE"]


@pytest.mark.slow  # CI time; the same path is covered by a quicker test in the default suite
def test_joblib_refuses_ddp(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_train(
        "-m", "hydra/launcher=joblib", "trainer=ddp", "latent_dim=2,3", *QUICK, f"hydra.sweep.dir={sweep}"
    )
    assert proc.returncode != 0
    assert (
        "hydra/launcher=joblib runs jobs side by side, one device each: it cannot be combined with DDP"
        in proc.stderr
    )
    for job in job_dirs(sweep):
        assert json.loads((job / "summary.json").read_text())["status"] == "failed"


def test_slurm_gives_each_device_a_task() -> None:
    cfg = compose_config(["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4"], hydra=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.tasks_per_node, launcher.gpus_per_node, launcher.nodes) == (4, 4, 1)
    assert cfg.trainer.strategy == "ddp"
    aae = compose_config(["trainer=ddp", "model=aae"], hydra=True)
    assert aae.trainer.strategy == "ddp_find_unused_parameters_true"


@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_job_of_every_sweep_composes_and_builds(sweep: str, tmp_path: Path) -> None:
    base = compose_config([f"+sweeps={sweep}"], hydra=True)
    assert base.task_name == sweep and base.hydra.sweeper.params
    params = {key: str(values).split(",") for key, values in base.hydra.sweeper.params.items()}
    jobs = list(itertools.product(*params.values()))
    assert len(jobs) > 1  # a sweep, not one job
    for values in jobs:
        overrides = [f"{key}={value}" for key, value in zip(params, values, strict=True)]
        cfg = compose_config([f"+sweeps={sweep}", *overrides, f"data.root={tmp_path}"], hydra=True)
        cfg.paths.output_dir = str(tmp_path)
        model = instantiate(cfg.model, _convert_="all")
        assert model.hparams.latent_dim == cfg.latent_dim
        assert instantiate(cfg.data).dataset_name == base.data.name


def test_sweeps_are_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    for sweep in SWEEPS:
        assert f"python train.py -m +sweeps={sweep}" in readme, sweep


def test_joblib_gives_each_job_its_own_gpu(monkeypatch) -> None:
    import torch
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from infovae_lightning.run.jobs import place_job

    cfg = compose_config(["hydra/launcher=joblib", "trainer=gpu"], hydra=True)
    with open_dict(cfg):
        cfg.hydra.job.num = 5
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)  # restored after the test
    HydraConfig.instance().set_config(cfg)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    place_job(cfg)
    assert cfg.trainer.devices == [1]  # job 5 of a machine with 4 GPUs
