"""Shared fixtures: the offline data beside the repository (`../shared/data`), or a skip with a reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.fixture
def offline_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(
            f"offline data not found at {path} (see ../shared/data/README.md or set INFOVAE_SHARED_DATA)"
        )
    return path


@pytest.fixture
def binarized_root(offline_data: Path) -> Path:
    if not (offline_data / "binarized_mnist" / "binarized_mnist_test.amat.gz").is_file():
        pytest.skip(f"no binarized MNIST under {offline_data}")
    return offline_data
