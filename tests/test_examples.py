"""The worked examples of examples/, run as a user runs them (fresh processes, fewer epochs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run(args: list[str], cwd: Path, pythonpath: list[Path]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath)), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_own_vae_with_our_mmd_and_metrics_under_a_plain_trainer(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run(
        [sys.executable, str(EXAMPLES / "own_vae.py"), "--epochs", "10", "--out", str(out)], tmp_path, [ROOT]
    )
    values = dict(line.split(" = ") for line in proc.stdout.splitlines() if " = " in line)
    assert float(values["val/active_units"]) >= 1 and float(values["val/mi"]) > 1, values
    assert 0 < float(values["test/semisup_acc_100"]) <= 1
    assert float(values["test/nll_is"]) > 0
    assert {p.name.split("_step")[0] for p in (out / "images").glob("*.png")} == {
        "test_samples",
        "test_reconstructions",
        "test_latent_space",
    }


@pytest.mark.slow  # CI runs example (b) from the installed wheel in .ci/wheel_check
def test_own_experiment_through_config_dir(tmp_path: Path) -> None:
    folder = EXAMPLES / "own_experiment"
    out = tmp_path / "run"
    args = [
        "--config-dir",
        "conf",
        "experiment=my_experiment",
        "trainer.max_epochs=3",
        f"hydra.run.dir={out}",
    ]
    run([sys.executable, "-m", "infovae_lightning.run.train", *args], folder, [folder, ROOT])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["config"]["model"]["_target_"] == "my_project.RingVAE"
    assert summary["evaluation"]["val/mi"]["set"] == "RingData val split, 200 examples"
    for key in ("val/mi", "val/mmd_full", "test/semisup_acc_100", "test/active_units"):
        assert key in summary["metrics"], key
    assert (out / "checkpoints" / "last.ckpt").is_file()
