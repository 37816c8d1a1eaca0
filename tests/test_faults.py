"""Faults a user meets on shared machines: preemption signals, a run directory used twice, a full disk, an
unwritable output folder; and what every run records whatever ends it (the final evaluation, provenance)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_train import ROOT, run_train

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
COMMON = [
    "model=mmd",
    "data.toy_size=2000",
    "trainer.max_epochs=3",
    "trainer.deterministic=true",
    "seed=3",
    "metrics=[mmd_full,latent_usage]",
    *QUIET,
]


def start_train(*overrides: str, marker: Path | None = None, step: int = 30) -> subprocess.Popen:
    """`python train.py` in the background; with `marker`, it waits at training step `step` for a signal."""
    wait = []
    if marker is not None:
        target = "tests.scripts.signal_at_step.WaitForSignalAtStep"
        wait = [f"+callbacks.wait._target_={target}", f"+callbacks.wait.step={step}"]
        wait.append(f"+callbacks.wait.marker={marker}")
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *overrides, *wait],
        cwd=ROOT,
        env={**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(marker: Path, proc: subprocess.Popen, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), f"the run did not reach its step: {proc.stderr.read() if proc.poll() else ''}"


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1], ids=lambda s: s.name)
def test_a_signal_checkpoints_the_step_and_exits_128_plus_signal(
    signum: signal.Signals, tmp_path: Path
) -> None:
    run_dir, marker = tmp_path / "run", tmp_path / "at_step"
    proc = start_train(
        "data.toy_size=500",
        "trainer.max_epochs=50",
        "metrics=none",
        *QUIET,
        f"hydra.run.dir={run_dir}",
        marker=marker,
        step=7,
    )
    wait_for(marker, proc)
    proc.send_signal(signum)
    assert proc.wait(timeout=120) == 128 + signum, proc.stderr.read()[-3000:]
    result = summary(run_dir)
    assert result["status"] == "interrupted" and result["signal"] == signum.name
    assert result["global_step"] == 8  # the step in progress was finished, then the run stopped
    assert result["steps"]["val/loss"] == 8  # validated on the final weights
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["global_step"] == 8
    assert not list((run_dir / "checkpoints").glob(".*tmp*"))  # no temporary file left behind


def test_a_run_stopped_by_sigterm_resumes_to_the_same_result(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    assert run_train(*COMMON, f"hydra.run.dir={whole}").returncode == 0
    # The same run, sent SIGTERM in its second epoch (step 30 of 20 an epoch)...
    stopped, marker = tmp_path / "stopped", tmp_path / "at_step"
    proc = start_train(*COMMON, f"hydra.run.dir={stopped}", marker=marker)
    wait_for(marker, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    assert summary(stopped)["global_step"] == 31
    # ...and resumed from that step by the same command with resume=true.
    resumed = run_train(*COMMON, "resume=true", f"hydra.run.dir={stopped}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = summary(whole), summary(stopped)
    assert b["status"] == "completed" and b["resumed_from"].endswith("last.ckpt")
    assert b["global_step"] == a["global_step"] == 60
    assert b["metrics"] == a["metrics"]  # every final metric, to the last bit
