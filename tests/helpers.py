"""What several test modules share: running `train.py` and scripts in subprocesses, composing the config,
checking a job's outputs, quiet Trainer settings, the offline data's location. Fixtures are in conftest.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]


def run_train(*overrides: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python train.py <overrides>` from the repository root; W&B disabled unless `env` says otherwise."""
    env = env if env is not None else {**os.environ, "WANDB_MODE": "disabled"}
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *overrides],
        cwd=ROOT,
        env={**env, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def train(*overrides: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = run_train(*overrides, env=env)
    if proc.returncode != 0:
        pytest.fail(f"train.py {' '.join(overrides)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def job_dirs(sweep: Path) -> list[Path]:
    return sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())


def check_job(job: Path) -> dict:
    assert (job / "checkpoints" / "last.ckpt").is_file()
    assert (job / "config.yaml").is_file()
    assert (job / "csv" / "metrics.csv").is_file()
    summary = json.loads((job / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["last_checkpoint"].endswith("last.ckpt")
    for key in ("train/loss", "train/recon", "val/loss", "val/recon"):
        assert key in summary["metrics"], key
    return summary


# Trainer settings for tests that fit in-process: no logger, checkpoints, progress bar or model summary.
QUIET_TRAINER = dict(
    logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
)


def run_script(script: Path, *args: str, cwd: Path) -> None:
    """`python <script> <args>` in a fresh process (one thread, warnings off); fails the test on an error."""
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def compose_config(overrides: list[str], output_dir: Path | None = None, hydra: bool = False) -> DictConfig:
    """`conf/train.yaml` composed with `overrides`, as `train.py` would; `output_dir` stands in for the run
    directory Hydra would make; `hydra=True` keeps the `hydra` node (launcher, sweeper)."""
    from infovae_lightning.run.train import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=hydra)
    if output_dir is not None:
        cfg.paths.output_dir = str(output_dir)
    return cfg


def shared_data_dir() -> Path:
    """`../shared/data` beside the repository, or `$INFOVAE_SHARED_DATA`."""
    return Path(os.environ.get("INFOVAE_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
