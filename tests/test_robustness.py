"""Bad input ends with one clear line before anything is downloaded or written; a killed run resumes exactly;
one failing job of a multirun leaves the others complete."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
from helpers import ROOT, check_job, compose_config, job_dirs, run_train

from infovae_lightning.data import InfoVAEDataModule
from infovae_lightning.errors import InfoVAEError
from infovae_lightning.models import ELBOVAE, MMDVAE
from infovae_lightning.report.collect import read_history, read_job
from infovae_lightning.run.checkpoints import LatestCheckpoint
from infovae_lightning.run.train import run

QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
TOY = {"input_shape": [1], "likelihood": {"name": "gaussian", "sigma": 1.0, "learn_sigma": True}}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Checkpoints of an ELBO (latent_dim 2) and an MMD-VAE (latent_dim 5) on the toy data."""
    tmp = tmp_path_factory.mktemp("checkpoints")
    out = {}
    for name, model in [("elbo", ELBOVAE(latent_dim=2, **TOY)), ("mmd5", MMDVAE(latent_dim=5, **TOY))]:
        trainer = L.Trainer(
            max_steps=2,
            limit_val_batches=1,
            logger=False,
            enable_progress_bar=False,
            callbacks=[LatestCheckpoint(dirpath=tmp / name)],
        )
        trainer.fit(model, datamodule=InfoVAEDataModule("toy", toy_size=200))
        out[name] = tmp / name / "last.ckpt"
    return out


def truncated_mnist(offline: Path, dest: Path) -> Path:
    """The MNIST test files with the images cut short, as an interrupted copy leaves them."""
    (dest / "mnist").mkdir(parents=True)
    images = gzip.decompress((offline / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    (dest / "mnist" / "t10k-images-idx3-ubyte").write_bytes(images[: len(images) // 2])
    labels = offline / "mnist" / "t10k-labels-idx1-ubyte.gz"
    (dest / "mnist" / labels.name).write_bytes(labels.read_bytes())
    return dest


# Each bad input, and what its one-line error says. `{empty}` is an empty folder given as data.root with
# downloads on: a check that ran after a download attempt would fail there with a download error instead.
BAD_INPUTS = [
    (["latent_dim=0"], "model: latent_dim must be > 0, got 0"),
    (["model.lam=-1"], "model: lam (λ) must be >= 0, got -1.0"),
    (
        ["model.alpha=1.5"],
        "model: alpha must be <= 1 (the KL(q(z|x)||p(z)) weight 1-alpha is negative), got 1.5",
    ),
    (["model.alpha=0.5", "model.lam=0.2"], "model: alpha + lam - 1 must be >= 0 (the D(q(z)||p(z)) weight)"),
    (["model=elbo", "model.lam=2"], "model: the ELBO/beta-VAE model has no D(q(z)||p(z)) estimator"),
    (["data.batch_size=0"], "data: batch_size must be >= 1, got 0"),
    (["model.kernel=gauss"], "model: unknown MMD kernel 'gauss'; valid choices: ['gaussian', 'rbf', 'imq']"),
    (["data.name=svhn"], "unknown data set 'svhn'; choose one of toy, digits, mnist, fashion_mnist"),
    (["net.encoder.name=resnet"], "model: unknown encoder 'resnet'; choose one of conv, mlp"),
    (["model.freeze=both"], "model: freeze must be one of encoder, decoder (or null), got 'both'"),
    (["data.root={empty}/typo"], "data.root {empty}/typo does not exist"),
    (["data.root={truncated}", "data.source=test"], "t10k-images-idx3-ubyte: truncated or corrupt IDX file"),
    (["ckpt_path={elbo}"], "{elbo} holds a ELBOVAE, not a MMDVAE"),
    (["model.init_from={mmd5}", "latent_dim=2"], "{mmd5} has latent_dim=5, the MMDVAE has latent_dim=2"),
    (["model.init_from={elbo}"], "{elbo} holds a ELBOVAE, not a MMDVAE"),
    (["ckpt_path={tmp}/none.ckpt"], "checkpoint {tmp}/none.ckpt does not exist"),
    (["ckpt_path={mmd5}", "resume=true"], "give ckpt_path=<checkpoint> or resume=true, not both"),
    (
        ["ckpt_path={mmd5}", "latent_dim=5", "model.lam=10"],
        "model.lam=10.0 differs from its 1000.0; to start a new",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_INPUTS, ids=[" ".join(o) for o, _ in BAD_INPUTS])
def test_bad_input_is_one_clear_error_before_any_download_or_output(
    overrides: list[str], message: str, checkpoints: dict[str, Path], offline_data: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    names = {"empty": empty, "tmp": tmp_path, **checkpoints}
    if any("{truncated}" in o for o in overrides):
        names["truncated"] = truncated_mnist(offline_data, tmp_path / "truncated")
    overrides = [o.format(**names) for o in overrides]
    base = ["data=mnist", f"data.root={empty}", "data.download=true"]
    if any(o.startswith(("ckpt_path", "model.init_from")) for o in overrides):
        base = ["data=toy"]  # the checkpoints are of the toy data
    out = tmp_path / "run"
    with pytest.raises(InfoVAEError) as error:
        run(compose_config(base + overrides, out))
    assert message.format(**names) in str(error.value) and "\n" not in str(error.value)
    assert not out.exists()  # nothing written
    assert list(empty.iterdir()) == []  # nothing downloaded


@pytest.mark.slow  # CI time; the same path is covered by a quicker test in the default suite
def test_bad_input_from_the_command_line_leaves_no_run_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = run_train("latent_dim=0", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == "error: model: latent_dim must be > 0, got 0"
    assert "Traceback" not in proc.stderr
    assert not run_dir.exists()  # not even Hydra's .hydra/ and train.log


def test_a_multirun_with_one_bad_job_completes_the_others(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_train(
        "-m",
        "model.lam=1000,-1,10",
        "trainer.max_epochs=1",
        "data=toy",
        "data.toy_size=500",
        "metrics=none",
        *QUIET,
        f"hydra.sweep.dir={sweep}",
    )
    assert proc.returncode != 0  # the sweep reports its failure...
    assert "model: lam (λ) must be >= 0, got -1.0" in proc.stderr
    good, bad, good_too = job_dirs(sweep)
    assert check_job(good)["config"]["model"]["lam"] == 1000.0  # ...after running every job
    assert check_job(good_too)["config"]["model"]["lam"] == 10.0
    failed = json.loads((bad / "summary.json").read_text())
    assert failed["status"] == "failed" and failed["error"] == "model: lam (λ) must be >= 0, got -1.0"
    assert "lam (λ) must be >= 0" in (bad / "train.log").read_text()


def test_a_run_killed_mid_epoch_resumes_to_the_same_result(tmp_path: Path) -> None:
    common = [
        "model=mmd",
        "data=toy",
        "data.toy_size=2000",
        "trainer.max_epochs=3",
        "trainer.deterministic=true",
        "seed=3",
        "metrics=[mmd_full,latent_usage]",
        *QUIET,
    ]
    whole = tmp_path / "whole"
    assert run_train(*common, f"hydra.run.dir={whole}").returncode == 0
    # The same run, killed with SIGKILL in the middle of its second epoch (step 30 of 20 a epoch)...
    killed = tmp_path / "killed"
    marker = tmp_path / "paused"
    pause = ["+callbacks.pause._target_=tests.scripts.pause_at_step.PauseAtStep", "+callbacks.pause.step=30"]
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "train.py"),
            *common,
            *pause,
            f"+callbacks.pause.marker={marker}",
            f"hydra.run.dir={killed}",
        ],
        cwd=ROOT,
        env={**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), "the run did not reach step 30"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert not (killed / "summary.json").exists()
    assert (killed / "checkpoints" / "last.ckpt").is_file()  # written at the end of the first epoch
    # ...and resumed from its last.ckpt by the same command with resume=true.
    resumed = run_train(*common, "resume=true", f"hydra.run.dir={killed}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = (json.loads((d / "summary.json").read_text()) for d in (whole, killed))
    assert b["resumed_from"].endswith("last.ckpt") and a["resumed_from"] is None
    assert b["global_step"] == a["global_step"] == 60
    assert b["metrics"] == a["metrics"]  # every final metric, to the last bit
    assert {"val/loss", "val/mmd_full", "val/mi", "train/loss"} <= set(a["metrics"])
    # Its metrics.csv holds the whole history: the rows logged before the kill, then the resumed run's.
    whole_history, resumed_history = (read_history(read_job(d)) for d in (whole, killed))
    assert len(whole_history["val/loss"]) == 3 and whole_history["val/loss"][0][0] < 20  # epoch 1's too
    assert resumed_history == whole_history
