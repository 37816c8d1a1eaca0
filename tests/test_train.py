"""`train.py` end to end, as users run it: real single runs and multiruns in subprocesses."""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from helpers import check_job, compose_config, job_dirs, run_train, train  # noqa: E402

import infovae_lightning
from infovae_lightning.models import MMDVAE
from infovae_lightning.run.train import run as run_job


def test_multirun_sweeps_latent_dim_and_lambda(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    train(
        "-m",
        "model=mmd",
        "latent_dim=1,3",
        "model.lam=10,100",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=10",
        "trainer.limit_val_batches=2",
        f"hydra.sweep.dir={sweep}",
    )
    jobs = job_dirs(sweep)
    assert [j.name for j in jobs] == ["0", "1", "2", "3"]
    for job, (latent_dim, lam) in zip(jobs, [(1, 10), (1, 100), (3, 10), (3, 100)], strict=True):
        summary = check_job(job)
        assert summary["config"]["latent_dim"] == latent_dim
        assert summary["config"]["model"]["latent_dim"] == latent_dim
        assert summary["config"]["model"]["lam"] == lam
        assert summary["global_step"] == 20
        # The checkpoint holds only plain hyperparameters: it loads with torch's weights_only.
        ckpt = torch.load(job / "checkpoints" / "last.ckpt", weights_only=True)
        assert (ckpt["hyper_parameters"]["latent_dim"], ckpt["hyper_parameters"]["lam"]) == (latent_dim, lam)
        model = MMDVAE.load_from_checkpoint(job / "checkpoints" / "last.ckpt")
        assert model.encoder.latent_dim == latent_dim


def test_each_model_trains_on_binarized_mnist(binarized_root: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    train(
        "-m",
        "model=elbo,beta,mmd,stein,aae",
        "data=binarized_mnist",
        f"data.root={binarized_root}",
        "latent_dim=5",
        "data.val_size=500",  # the evaluation metrics score the whole validation split
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=15",
        "trainer.limit_val_batches=2",
        "trainer.log_every_n_steps=5",
        f"hydra.sweep.dir={sweep}",
    )
    jobs = job_dirs(sweep)
    assert len(jobs) == 5
    for job, model in zip(jobs, ["elbo", "beta", "mmd", "stein", "aae"], strict=True):
        summary = check_job(job)
        # Lightning counts every optimizer step: the AAE steps two per batch.
        assert summary["global_step"] == (30 if model == "aae" else 15)
        assert (
            summary["config"]["model"]["_target_"].split(".")[-1]
            == {
                "elbo": "ELBOVAE",
                "beta": "ELBOVAE",
                "mmd": "MMDVAE",
                "stein": "SteinVAE",
                "aae": "AdversarialAE",
            }[model]
        )
        if model != "elbo" and model != "beta":
            assert "val/div" in summary["metrics"]


@pytest.mark.slow  # CI time; the same path is covered by a quicker test in the default suite
def test_single_run_writes_into_hydra_run_dir(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    train(
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=5",
        "trainer.limit_val_batches=1",
        "model=elbo",
        f"hydra.run.dir={run_dir}",
    )
    summary = check_job(run_dir)
    assert summary["config"]["data"]["name"] == "digits"  # the default


def test_bad_override_fails_before_any_output(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = run_train("model.lamm=3", f"hydra.run.dir={run_dir}")
    assert proc.returncode != 0
    assert "lamm" in proc.stderr
    assert not run_dir.exists()


@pytest.mark.slow  # CI time; the same path is covered by a quicker test in the default suite
def test_missing_data_ends_with_one_clear_line(tmp_path: Path) -> None:
    proc = run_train(
        "data=binarized_mnist",
        f"data.root={tmp_path}",
        "data.download=false",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: binarized_mnist:") and "binarized_mnist_train.amat" in last
    assert str(tmp_path) in last
    assert "Traceback" not in proc.stderr


@pytest.mark.slow  # CI time; the same path is covered by a quicker test in the default suite
def test_wandb_logger_goes_offline_without_a_key(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env |= {"HOME": str(tmp_path), "NETRC": str(tmp_path / "no-netrc")}
    train(
        "logger=wandb",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=5",
        "trainer.limit_val_batches=1",
        f"hydra.run.dir={run_dir}",
        env=env,
    )
    offline_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
    assert check_job(run_dir)["config"]["logger"]["wandb"]["offline"] is True


def test_paper_metrics_reach_the_summary_with_their_sources(binarized_root: Path, tmp_path: Path) -> None:
    from infovae_lightning.run.classifier_training import main as make_classifier

    classifiers = tmp_path / "classifiers"
    quick = ["--epochs", "1", "--train-size", "500", "--out", str(classifiers / "mnist_digits.pt")]
    offline = ["--data", "mnist", "--root", str(binarized_root), "--source", "test"]
    assert make_classifier([*offline, *quick]) == 0
    run_dir = tmp_path / "run"
    train(
        "model=elbo",
        "data=binarized_mnist",
        f"data.root={binarized_root}",
        "data.download=false",
        "data.val_size=300",
        "data.test_size=300",
        "eval_data.source=test",  # offline: the labelled MNIST test file, split 8000/1000/1000
        "metrics=paper",
        "metrics.nll_is.num_samples=20",
        "metrics.class_dist.num_samples=500",
        "metrics.pictures.every_n_val_epochs=1",
        f"paths.classifier_dir={classifiers}",
        "test=true",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=20",
        "trainer.limit_val_batches=2",
        f"hydra.run.dir={run_dir}",
    )
    summary = check_job(run_dir)
    metrics = summary["metrics"]
    scalar = ["mmd_full", "logdet_cov_per_dim", "kl_full", "mi", "active_units"]
    for key in [f"val/{k}" for k in scalar] + [f"test/{k}" for k in scalar]:
        assert key in metrics, key
    for key in ("nll_is", "semisup_acc_100", "semisup_acc_1000", "semisup_acc_all", "class_dist_ce"):
        assert f"test/{key}" in metrics, key
    assert 100 < metrics["test/nll_is"] < 600
    assert 0 <= metrics["test/class_dist_ce"] < 10
    sources = summary["evaluation"]
    assert sources["test/mmd_full"]["set"] == "binarized_mnist test split, 300 examples"
    labelled = "mnist (test file) test split, 1000 examples, binarize=dynamic"
    assert sources["test/semisup_acc_100"]["set"] == labelled
    assert sources["test/semisup_acc_100"]["labelled_pool"].startswith("mnist (test file) train split, 8000")
    assert sources["test/class_dist_ce"]["classifier"].startswith(str(classifiers / "mnist_digits.pt"))
    assert set(summary["timing"]["evaluation_seconds"]) == {
        "mmd_full",
        "logdet_cov_per_dim",
        "latent_usage",
        "nll_is",
        "pictures",
        "semisup_acc",
        "class_dist_ce",
    }
    assert summary["timing"]["fit_seconds"] > 0 and summary["timing"]["test_seconds"] > 0
    images = {p.name for p in (run_dir / "images").glob("*.png")}
    assert {"val_samples_step000020.png", "test_reconstructions_step000020.png"} <= images


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["metrics=[class_dist]", "data=mnist", "paths.classifier_dir=/nowhere"], "infovae-classifier"),
        pytest.param(
            ["metrics=[nll_is]", "data=mnist", "model=aae", "model.deterministic=true"],
            "deterministic",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_a_metric_that_cannot_run_stops_the_run_before_training(
    overrides: list[str], message: str, offline_data: Path, tmp_path: Path
) -> None:
    proc = run_train(
        *overrides,
        f"data.root={offline_data}",
        "data.source=test",
        "data.download=false",
        "trainer.max_epochs=1",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()  # refused in the pre-flight: nothing written


def producer() -> str:
    """The file of this package whose code called `LightningModule.log` (through `log_dict` too).

    Matched on the package's own directory, not the checkout's: CI's `.venv` (Lightning's `log_dict`) is
    inside the checkout too."""
    package = Path(infovae_lightning.__file__).resolve().parent
    frame = sys._getframe(2)
    while frame is not None and not Path(frame.f_code.co_filename).resolve().is_relative_to(package):
        frame = frame.f_back
    assert frame is not None, "a value logged by no code of this package"
    return str(Path(frame.f_code.co_filename).resolve().relative_to(package.parent))


def test_every_logged_metric_key_has_one_producer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny fit and test with the default metrics: no key is logged by two producers (the model's terms,
    the evaluator's metrics), so none silently replaces another's value."""
    producers: dict[str, set[str]] = defaultdict(set)
    log = L.LightningModule.log

    def counted(self: L.LightningModule, name: str, *args: Any, **kwargs: Any) -> None:
        producers[name].add(producer())
        log(self, name, *args, **kwargs)

    monkeypatch.setattr(L.LightningModule, "log", counted)
    overrides = ["data=toy", "data.toy_size=200", "trainer.max_epochs=2", "test=true", "logger=none"]
    overrides += ["metrics.nll_is.num_samples=10", "trainer.enable_progress_bar=false"]
    run_job(compose_config(overrides, output_dir=tmp_path))
    assert {key: files for key, files in producers.items() if len(files) > 1} == {}
    for stage in ("val", "test"):
        assert producers[f"{stage}/kl"] == {"infovae_lightning/models/base.py"}  # the model's term
        for key in ("kl_full", "mi", "mmd_full", "logdet_cov_per_dim"):
            assert producers[f"{stage}/{key}"] == {"infovae_lightning/metrics/evaluator.py"}, key
    assert producers["test/nll_is"] == {"infovae_lightning/metrics/evaluator.py"}
