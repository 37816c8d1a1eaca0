"""Faults a user meets on shared machines: preemption signals, a run directory used twice, a full disk, an
unwritable output folder; and what every run records whatever ends it (the final evaluation, provenance)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from helpers import ROOT, compose_config, run_train

import infovae_lightning
from infovae_lightning.errors import InfoVAEError
from infovae_lightning.run.checkpoints import (
    AtomicCheckpointIO,
    CheckpointWriteError,
    LatestCheckpoint,
)
from infovae_lightning.run.train import run, stopped_at

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


SIGNALS = [
    signal.SIGTERM,  # the default suite sends SIGTERM (and checks the lock meanwhile); -m slow the others
    pytest.param(signal.SIGINT, marks=pytest.mark.slow),
    pytest.param(signal.SIGUSR1, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
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
    if signum == signal.SIGTERM:  # meanwhile, a second run pointed at the same directory refuses to start
        second = run_train("data.toy_size=500", "trainer.max_steps=2", *QUIET, f"hydra.run.dir={run_dir}")
        assert second.returncode == 1
        last = second.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: run directory {run_dir} is in use by process {proc.pid}"), last
        assert "Traceback" not in second.stderr
    proc.send_signal(signum)
    assert proc.wait(timeout=120) == 128 + signum, proc.stderr.read()[-3000:]
    result = summary(run_dir)
    assert result["status"] == "interrupted" and result["signal"] == signum.name
    assert result["global_step"] == 8  # the step in progress was finished, then the run stopped
    assert result["steps"]["val/loss"] == 8  # validated on the final weights
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["global_step"] == result["last_checkpoint_step"] == 8
    assert not list((run_dir / "checkpoints").glob(".*tmp*"))  # no temporary file left behind


def test_a_second_signal_during_the_final_validation_keeps_the_stopped_step(tmp_path: Path) -> None:
    """A scheduler's grace period can end inside the final validation: the stopped step is saved before it."""
    run = [*COMMON, "trainer.max_steps=12", "trainer.val_check_interval=3"]
    run_dir, marker, second = tmp_path / "run", tmp_path / "at_step", tmp_path / "validating"
    proc = start_train(
        *run, f"hydra.run.dir={run_dir}", f"+callbacks.wait.second_marker={second}", marker=marker, step=7
    )
    wait_for(marker, proc)
    proc.send_signal(signal.SIGTERM)
    wait_for(second, proc)  # the first signal's validation of step 8 has begun
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM, proc.stderr.read()[-3000:]
    result = summary(run_dir)
    assert result["status"] == "interrupted" and "received twice" in result["error"]
    assert result["global_step"] == 8
    # The validation of step 8 did not finish, but step 8 was saved before it began.
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert saved["global_step"] == result["last_checkpoint_step"] == 8
    last = (run_dir / "train.log").read_text().strip().splitlines()[-1]
    assert f"stopped at step 8; {run_dir / 'checkpoints' / 'last.ckpt'} holds it" in last
    # Resumed from that step, the run ends as an uninterrupted one does.
    resumed = run_train(*run, "resume=true", f"hydra.run.dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole = tmp_path / "whole"
    assert run_train(*run, f"hydra.run.dir={whole}").returncode == 0
    a, b = summary(whole), summary(run_dir)
    assert b["status"] == "completed" and b["global_step"] == a["global_step"] == 12
    assert b["metrics"] == a["metrics"]


def test_a_stopped_run_names_the_step_its_checkpoint_holds(tmp_path: Path) -> None:
    """When the stopped step could not be saved (a second signal during that write, a full disk), the
    message names the earlier step `last.ckpt` holds, which is where resume=true continues (any model's
    checkpoint: the step is Lightning's `global_step`)."""
    ckpt = LatestCheckpoint(dirpath=str(tmp_path))
    trainer = SimpleNamespace(checkpoint_callbacks=[ckpt], global_step=8)
    assert stopped_at(trainer).endswith("before any checkpoint: resume=true would start over")
    last = tmp_path / "last.ckpt"
    torch.save({"state_dict": {}, "global_step": 6}, last)
    ckpt.best_model_path = str(last)
    assert stopped_at(trainer) == (
        f"stopped at step 8; {last} holds step 6, where resume=true continues (steps 7 to 8 again)"
    )
    trainer.global_step = 7
    assert stopped_at(trainer).endswith("holds step 6, where resume=true continues (step 7 again)")
    trainer.global_step = 6
    assert stopped_at(trainer) == f"stopped at step 6; {last} holds it (resume with resume=true)"
    last.write_bytes(b"not a checkpoint")
    assert stopped_at(trainer).endswith(f"{last} is the latest checkpoint (resume with resume=true)")


@pytest.mark.slow  # three trainings (~70 s on 2 cores); the default suite's kill -9 test resumes the same way
def test_a_run_stopped_by_sigterm_resumes_to_the_same_result(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    assert run_train(*COMMON, f"hydra.run.dir={whole}").returncode == 0
    # The same run, sent SIGTERM in its second epoch (step 30 of 28 an epoch)...
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
    assert b["global_step"] == a["global_step"] == 84  # 3 epochs of 28 batches
    assert b["metrics"] == a["metrics"]  # every final metric, to the last bit


def quiet_config(overrides: list[str], out: Path):
    return compose_config(["data=toy", "data.toy_size=500", "logger=none", *QUIET, *overrides], out)


def test_max_steps_mid_epoch_and_early_stopping_end_with_an_evaluation_of_the_final_weights(
    tmp_path: Path,
) -> None:
    # 500 points: 5 batches an epoch, so step 7 is in the middle of the second epoch.
    run(quiet_config(["trainer.max_steps=7", "metrics=[mmd_full]"], tmp_path / "steps"))
    result = summary(tmp_path / "steps")
    assert result["global_step"] == 7
    assert result["steps"]["val/loss"] == result["steps"]["val/mmd_full"] == 7
    assert result["steps"]["train/loss"] == 6  # the last step's loss: computed on the weights of step 6
    ckpt = torch.load(tmp_path / "steps" / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["global_step"] == 7
    # Early stopping decides after the metrics of its validation ran; a metric scheduled every 5 validations
    # is then run on the final weights all the same.
    early = [
        "+callbacks.early._target_=lightning.pytorch.callbacks.EarlyStopping",
        "+callbacks.early.monitor=val/loss",
        "+callbacks.early.patience=0",
        "+callbacks.early.min_delta=1000",
        "metrics=[mmd_full]",
        "metrics.mmd_full.every_n_val_epochs=5",
    ]
    run(quiet_config(early, tmp_path / "early"))
    result = summary(tmp_path / "early")
    assert result["global_step"] == 10  # stopped after its second epoch
    assert result["steps"]["val/mmd_full"] == result["steps"]["val/loss"] == 10


def test_a_checkpoint_write_that_fails_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"step": 1, "w": torch.ones(1000)}, path)

    def full_disk(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointWriteError) as error:
        io.save_checkpoint({"step": 2}, path)
    assert str(error.value).startswith(
        f"cannot write checkpoint {path} (No space left on device); {path} is kept"
    )

    def interrupted(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": 3}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["step"] == 1  # the first checkpoint, whole
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left


def test_a_full_disk_during_a_run_is_one_error_and_keeps_the_checkpoints_written(
    tmp_path: Path, monkeypatch
) -> None:
    save, calls = torch.save, []

    def fails_after_two(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) > 2:  # the first validation's two checkpoints (best and last) are written
            f.write(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", fails_after_two)
    out = tmp_path / "run"
    with pytest.raises(InfoVAEError) as error:
        run(quiet_config(["trainer.max_epochs=3", "metrics=none"], out))
    assert "No space left on device" in str(error.value) and "\n" not in str(error.value)
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert last["global_step"] == 5  # the first epoch's, loadable
    assert summary(out)["status"] == "failed" and "No space left" in summary(out)["error"]


def test_an_output_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    proc = run_train("trainer.max_steps=2", f"hydra.run.dir={tmp_path}/a_file/run")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: hydra.run.dir: cannot write to {tmp_path}/a_file/run ({tmp_path}/a_file is a file, not a "
        "folder); choose another folder with hydra.run.dir=<folder>"
    )


def test_summary_records_the_data_files_read_the_version_and_the_commit(
    offline_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    overrides = ["data=mnist", f"data.root={offline_data}", "data.download=false", "data.source=test"]
    run(quiet_config([*overrides, "trainer.max_steps=1", "trainer.limit_val_batches=1", "metrics=none"], out))
    prov = summary(out)["provenance"]
    files = prov["data_files"]
    # Files read earlier in this process (other tests' fakes) are listed too: keep the offline data's.
    images = [p for p in files if "t10k-images" in p and p.startswith(str(offline_data))]
    assert images, files
    assert files[images[0]] == f"sha256:{hashlib.sha256(Path(images[0]).read_bytes()).hexdigest()}"
    assert prov["package_version"] == infovae_lightning.__version__
    if (ROOT / ".git").exists():
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
        assert prov["git"]["commit"] == commit.stdout.strip() and isinstance(prov["git"]["dirty"], bool)
