"""The metrics under their Evaluator: schedules, logged keys, provenance, refusals, shared encodings, one
producer per key, and 1 process = 2 DDP processes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import run_script

from infovae_lightning.data import InfoVAEDataModule
from infovae_lightning.metrics import (
    EvaluationError,
    Evaluator,
    FullMMD,
    ImportanceSampledNLL,
    LatentUsage,
    LogDetCovariance,
    SemiSupervisedAccuracy,
)
from infovae_lightning.metrics.latent_usage import average_kl
from infovae_lightning.models import ELBOVAE, AdversarialAE

ROOT = Path(__file__).resolve().parents[1]
SMALL_NET = {"name": "mlp", "hidden": [32]}


def trainer(tmp_path: Path, callbacks: list, **kwargs) -> L.Trainer:
    options = dict(
        accelerator="cpu",
        max_epochs=3,
        limit_train_batches=5,
        limit_val_batches=2,
        logger=L.pytorch.loggers.CSVLogger(tmp_path, name="csv", version=""),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )
    return L.Trainer(callbacks=callbacks, **(options | kwargs))


@pytest.fixture
def mnist(offline_data: Path) -> InfoVAEDataModule:
    return InfoVAEDataModule(
        name="mnist", root=offline_data, source="test", binarize="dynamic", download=False, val_size=500
    )


def test_metrics_follow_their_schedule_and_log_every_key(tmp_path: Path, mnist: InfoVAEDataModule) -> None:
    torch.manual_seed(0)
    model = ELBOVAE(latent_dim=3, input_shape=[1, 28, 28], net=SMALL_NET)
    every_epoch = FullMMD(every_n_val_epochs=1, chunk_size=64)
    every_other = LogDetCovariance(every_n_val_epochs=2)
    at_test_only = ImportanceSampledNLL(num_samples=20, max_examples=100)
    usage = LatentUsage(every_n_val_epochs=1)
    probe = SemiSupervisedAccuracy(budgets=[50, "all"], every_n_val_epochs=3)
    evaluator = Evaluator([every_epoch, every_other, at_test_only, usage, probe])
    fit = trainer(tmp_path, [evaluator])
    fit.fit(model, datamodule=mnist)
    assert evaluator.val_runs == 3
    logged = fit.callback_metrics
    for key in ("val/mmd_full", "val/logdet_cov_per_dim", "val/kl_full", "val/mi", "val/active_units"):
        assert key in logged, key
    assert "val/nll_is" not in logged  # at test only
    assert {"val/semisup_acc_50", "val/semisup_acc_all"} <= set(logged)

    # The logged full-set values are the estimators applied to the whole split, not batch averages.
    x = mnist.examples("val").x
    with torch.no_grad():
        q = model.encoder(x)
    assert float(logged["val/kl_full"]) == pytest.approx(average_kl(q.mean, q.std), rel=1e-5)
    source = "mnist (test file) val split, 500 examples, binarize=dynamic"
    assert evaluator.records["val/mmd_full"]["set"] == source
    pool = evaluator.records["val/semisup_acc_50"]["labelled_pool"]
    assert pool.startswith("mnist (test file) train split, 8500")

    # CSV has a column per metric, with values only at the epochs the schedule ran.
    with (tmp_path / "csv" / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    mmd_values = [r["val/mmd_full"] for r in rows if r.get("val/mmd_full")]
    assert len(mmd_values) == 3
    assert len(set(mmd_values)) == 3  # re-encoded at every epoch (the shared encoding is not stale)
    assert sum(1 for r in rows if r.get("val/logdet_cov_per_dim")) == 2  # 2nd and last (3rd) epochs

    fit.test(model, datamodule=mnist, verbose=False)
    assert {"test/nll_is", "test/mmd_full", "test/semisup_acc_all"} <= set(fit.callback_metrics)
    assert evaluator.records["test/nll_is"]["set"].startswith("mnist (test file) test split, 100 examples")
    assert 50 < float(fit.callback_metrics["test/nll_is"]) < 600  # nats per binarized digit, barely trained


def test_metrics_do_not_depend_on_training_noise(tmp_path: Path, mnist: InfoVAEDataModule) -> None:
    """Each metric's randomness comes from its own seed: evaluating twice gives the same number."""
    model = ELBOVAE(latent_dim=2, input_shape=[1, 28, 28], net=SMALL_NET)
    mmd = FullMMD(seed=3)
    check = trainer(tmp_path, [Evaluator([mmd])])
    first = check.validate(model, datamodule=mnist, verbose=False)[0]["val/mmd_full"]
    torch.manual_seed(123)  # a different global stream
    second = check.validate(model, datamodule=mnist, verbose=False)[0]["val/mmd_full"]
    assert first == second
    other_seed = trainer(tmp_path, [Evaluator([FullMMD(seed=4)])])
    assert other_seed.validate(model, datamodule=mnist, verbose=False)[0]["val/mmd_full"] != first
    # A metric without a seed of its own takes its evaluator's.
    evaluator = trainer(tmp_path, [Evaluator([FullMMD()], seed=3)])
    assert evaluator.validate(model, datamodule=mnist, verbose=False)[0]["val/mmd_full"] == first


def test_metrics_do_not_change_the_training(tmp_path: Path, mnist: InfoVAEDataModule) -> None:
    """The converse: metrics draw nothing from the global stream, so the weights a run ends with do not depend
    on which metrics ran or how often (a sweep's arms stay comparable whatever their metric schedules)."""

    def weights(callbacks: list, folder: str) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        model = ELBOVAE(latent_dim=2, input_shape=[1, 28, 28], net=SMALL_NET)
        trainer(tmp_path / folder, callbacks).fit(model, datamodule=mnist)
        return model.state_dict()

    plain = weights([], "plain")
    metrics = [
        FullMMD(every_n_val_epochs=1, chunk_size=64),
        LogDetCovariance(every_n_val_epochs=1),
        LatentUsage(every_n_val_epochs=1),
        SemiSupervisedAccuracy(budgets=[50], every_n_val_epochs=1),
    ]
    scored = weights([Evaluator(metrics)], "scored")
    assert plain.keys() == scored.keys()
    for name, value in plain.items():
        assert torch.equal(value, scored[name]), name


def test_labels_are_required_where_the_metric_needs_them(tmp_path: Path, binarized_root: Path) -> None:
    data = InfoVAEDataModule(name="binarized_mnist", root=binarized_root, download=False, val_size=100)
    model = ELBOVAE(latent_dim=2, input_shape=[1, 28, 28], net=SMALL_NET)
    probe = SemiSupervisedAccuracy(budgets=[10])
    with pytest.raises(EvaluationError, match="no labels; evaluate on a labelled set with eval_data=mnist"):
        trainer(tmp_path, [Evaluator([probe])]).validate(model, datamodule=data, verbose=False)


def test_nll_refuses_a_deterministic_encoder_before_training(tmp_path: Path, mnist: InfoVAEDataModule):
    model = AdversarialAE(latent_dim=2, input_shape=[1, 28, 28], net=SMALL_NET, deterministic=True)
    with pytest.raises(EvaluationError, match="deterministic"):
        trainer(tmp_path, [Evaluator([ImportanceSampledNLL()])]).fit(model, datamodule=mnist)
    assert model.global_step == 0


def test_the_schedule_survives_a_checkpoint() -> None:
    evaluator = Evaluator([FullMMD(every_n_val_epochs=3)])
    evaluator.val_runs = 5
    restored = Evaluator([FullMMD(every_n_val_epochs=3)])
    restored.load_state_dict(evaluator.state_dict())
    assert restored.val_runs == 5


def test_the_schedule_continues_from_a_checkpoint_of_metric_callbacks() -> None:
    """Checkpoints written when each metric was its own callback keep the count under the metric's class."""
    legacy = {"callbacks": {"FullMMD": {"val_runs": 4}, "LatentUsage": {"val_runs": 4}, "Other": {}}}
    restored = Evaluator([FullMMD(), LatentUsage()])
    restored.on_load_checkpoint(None, None, legacy)  # type: ignore[arg-type]
    assert restored.val_runs == 4
    current = {"callbacks": {"FullMMD": {"val_runs": 4}, restored.state_key: {"val_runs": 7}}}
    again = Evaluator([FullMMD()])
    again.on_load_checkpoint(None, None, current)  # type: ignore[arg-type]
    assert again.val_runs == 0  # its own state wins: Lightning's load_state_dict sets it next


def test_the_evaluator_takes_each_metric_once_and_only_metrics() -> None:
    with pytest.raises(EvaluationError, match="each metric once"):
        Evaluator([FullMMD(), FullMMD(kernel="imq")])
    with pytest.raises(EvaluationError, match="Metric objects, got a ModelCheckpoint"):
        Evaluator([L.pytorch.callbacks.ModelCheckpoint()])


def test_metrics_of_one_evaluation_share_one_encoding(tmp_path: Path, mnist: InfoVAEDataModule) -> None:
    """The split is encoded once for the metrics that read it with the same chunks and seed."""
    model = ELBOVAE(latent_dim=2, input_shape=[1, 28, 28], net=SMALL_NET)
    rows: list[int] = []  # examples through the encoder, call by call
    model.encoder.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    metrics = [FullMMD(), LogDetCovariance(), LatentUsage()]
    trainer(tmp_path, [Evaluator(metrics)], logger=False).validate(model, datamodule=mnist, verbose=False)
    assert rows == [100, 100, 500]  # the loop's 2 batches, then the 500 examples of the split once


@pytest.mark.parametrize("bad", [dict(every_n_val_epochs=0), dict(max_examples=0), dict(chunk_size=0)])
def test_bad_schedules_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        FullMMD(**bad)


def test_ddp_with_two_processes_gives_the_single_process_values(tmp_path: Path, offline_data: Path) -> None:
    """Every metric, with 2 CPU processes (gloo) and with 1, on the same data and model: equal to 1e-5."""
    script = ROOT / "tests" / "scripts" / "evaluate_metrics.py"
    results = {}
    for devices in (1, 2):
        out = tmp_path / f"metrics_{devices}.json"
        run_script(script, str(offline_data), str(devices), str(out), cwd=tmp_path)
        results[devices] = json.loads(out.read_text())
    one, two = results[1], results[2]
    assert (one.pop("world_size"), two.pop("world_size")) == (1, 2)
    expected = {
        "val/mmd_full",
        "val/logdet_cov_per_dim",
        "val/kl_full",
        "val/mi",
        "val/active_units",
        "val/nll_is",
        "val/nll_is_bpd",
        "val/semisup_acc_100",
        "val/semisup_acc_all",
        "val/class_dist_ce",
        "val/class_dist_empty",
    }
    assert set(one) == expected and set(two) == expected
    for key in expected:
        assert two[key] == pytest.approx(one[key], rel=1e-5, abs=1e-5), key
