"""What a newcomer sees: `python train.py` (digits, MMD-VAE) ends with plain lines, draws its pictures, uses
its latent code; the output has no nested bars, product tips or deprecation noise; `infovae report` takes
the run; a resumed W&B job continues its run; parallel jobs share the CPU cores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infovae_lightning.report.cli import main as report
from infovae_lightning.run.jobs import cpu_threads, jobs_at_once
from infovae_lightning.run.loggers import RUN_ID_FILE

ROOT = Path(__file__).resolve().parents[1]


def train(*overrides: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python train.py <overrides>` as a user runs it (stdout is a pipe, as in a log file)."""
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1", **(env or {})}
    env.pop("PYTHONWARNINGS", None)  # the user's default: warnings shown, so noise would show
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *overrides],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_a_short_run_prints_plain_lines_and_its_report_works(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = train("trainer.max_epochs=2", f"hydra.run.dir={out}")
    text = proc.stdout + proc.stderr
    assert "epoch 1/2  step 28" in proc.stdout and "epoch 2/2  step 56" in proc.stdout
    assert "\r" not in text and "Validation DataLoader" not in text  # no redrawn or nested bars
    assert "Tip:" not in text and "deprecated" not in text
    closing = proc.stdout[proc.stdout.index("Trained MMDVAE") :]
    assert closing.startswith(
        "Trained MMDVAE (alpha=1, lam=1000) on digits, latent_dim=2: 2 epochs, 56 steps"
    )
    assert f"Files in {out}" in closing and "images/val_samples_step000056.png" in closing
    assert "python train.py -m model=elbo,mmd" in closing and f"infovae report {out})" in closing
    assert report([str(out)]) == 0
    assert (out / "report" / "report.md").is_file()


@pytest.mark.slow
def test_the_first_run_uses_its_latent_code(tmp_path: Path) -> None:
    """The README's command (a): `python train.py` with no arguments (~40 s on 2 cores)."""
    out = tmp_path / "run"
    proc = train(f"hydra.run.dir={out}")
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    assert metrics["val/active_units"] >= 1 and metrics["val/mi"] > 2, metrics
    assert (out / "images" / "val_samples_step000560.png").is_file()
    assert (out / "images" / "val_latent_space_step000560.png").is_file()
    assert "units active" in proc.stdout


def test_a_resumed_job_continues_its_wandb_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    common = [
        "logger=wandb",
        "resume=true",
        "metrics=none",
        f"hydra.run.dir={out}",
        "trainer.limit_train_batches=2",
    ]
    train(*common, "trainer.max_epochs=1", env={"WANDB_MODE": "offline"})
    first = (out / RUN_ID_FILE).read_text().strip()
    train(*common, "trainer.max_epochs=2", env={"WANDB_MODE": "offline"})
    runs = sorted(p.name for p in (out / "wandb").glob("offline-run-*"))
    assert (out / RUN_ID_FILE).read_text().strip() == first
    assert len(runs) == 2 and all(name.endswith(f"-{first}") for name in runs), runs
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_from"].endswith("last.ckpt") and summary["epoch"] == 2


def test_parallel_jobs_share_the_cores() -> None:
    assert jobs_at_once(-1, cores=8) == 8 and jobs_at_once(-2, cores=8) == 7 and jobs_at_once(3, cores=8) == 3
    assert cpu_threads(None, parallel=4, cores=8) == 2
    assert (
        cpu_threads(None, parallel=3, cores=2) == 1
    )  # more jobs than cores: one thread each (and a warning)
    assert cpu_threads(None, parallel=1, cores=8) is None  # one job: torch's default
    assert cpu_threads(5, parallel=4, cores=8) == 5  # the user's `threads` wins
