"""Every config composes, instantiates what it names, and rejects typos and wrong types early."""

from __future__ import annotations

import itertools

import pytest
from helpers import compose_config
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from infovae_lightning.metrics import Metric
from infovae_lightning.run.schemas import keyword_parameters
from infovae_lightning.run.train import CONFIG_DIR, _build_all

MODELS = ["elbo", "beta", "mmd", "stein", "aae"]
DATA = ["toy", "digits", "mnist", "binarized_mnist", "fashion_mnist", "cifar10"]
NETS = ["mlp", "conv", "pixelcnn"]


def test_config_groups_are_all_tested() -> None:
    names = {
        group: sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))
        for group in ("model", "data", "net")
    }
    assert names == {"model": sorted(MODELS), "data": sorted(DATA), "net": sorted(NETS)}


@pytest.mark.parametrize(("model", "data", "net"), list(itertools.product(MODELS, DATA, NETS)))
def test_every_combination_composes_and_builds(model: str, data: str, net: str, tmp_path) -> None:
    cfg = compose_config([f"model={model}", f"data={data}", f"net={net}"], tmp_path)
    OmegaConf.resolve(cfg)
    assert cfg.model.latent_dim == cfg.latent_dim
    if data == "toy" and net in ("conv", "pixelcnn"):  # not images: both have a conv encoder
        with pytest.raises(InstantiationException, match="conv net needs"):
            instantiate(cfg.model, _convert_="all")
        return
    module = instantiate(cfg.model, _convert_="all")
    assert module.hparams.input_shape == list(cfg.model.input_shape)
    # The 8-bit CIFAR-10 under the autoregressive decoder: the discretized logistic mixture.
    continuous = "logistic_mixture" if net == "pixelcnn" else "gaussian"
    expected = "bernoulli" if data in ("mnist", "binarized_mnist", "fashion_mnist") else continuous
    assert module.hparams.likelihood["name"] == expected
    assert module.hparams.likelihood["learn_sigma"] == (data == "toy")
    datamodule = instantiate(cfg.data)  # touches no file: loading happens in setup()
    assert tuple(datamodule.input_shape) == tuple(cfg.model.input_shape)


@pytest.mark.parametrize("logger", ["csv", "tensorboard", "wandb", "none"])
@pytest.mark.parametrize("trainer", ["default", "cpu"])
def test_trainer_logger_callbacks_instantiate(logger: str, trainer: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cfg = compose_config([f"logger={logger}", f"trainer={trainer}"], tmp_path)
    loggers = [instantiate(node) for node in (cfg.logger or {}).values()]
    callbacks = [instantiate(node) for node in cfg.callbacks.values()]
    trainer_obj = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    assert trainer_obj.max_epochs == cfg.trainer.max_epochs
    assert trainer_obj.checkpoint_callback.dirpath.startswith(str(tmp_path))


def test_presets_have_their_documented_weights() -> None:
    """The paper's weights (ELBO, β, MMD's Section 5.2 comparison, AAE) or, for Stein, the measured ones
    (α = 1, λ = 10: docs/results.md "The Stein-VAE preset")."""
    presets = {m: compose_config([f"model={m}"]).model for m in MODELS}
    weights = {m: (preset.alpha, preset.lam) for m, preset in presets.items()}
    assert weights == {
        "elbo": (0.0, 1.0),
        "beta": (-3.0, 4.0),
        "mmd": (1.0, 1000.0),
        "stein": (1.0, 10.0),
        "aae": (1.0, 1.0),
    }
    beta = compose_config(["model=beta", "model.lam=0.5"]).model
    assert (beta.alpha, beta.lam) == (0.5, 0.5)
    assert compose_config(["model=aae", "model.alpha=0.5", "model.lam=3"]).model.alpha == 0.5


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml")))
def test_every_experiment_composes_and_builds(name: str, tmp_path) -> None:
    cfg = compose_config([f"experiment={name}"], tmp_path)
    OmegaConf.resolve(cfg)
    module = instantiate(cfg.model, _convert_="all")
    metrics = _build_all("metrics", cfg.metrics)
    assert all(isinstance(metric, Metric) for metric in metrics)  # metrics, not leftover dicts
    if module.hparams.get("deterministic"):  # a point-mass q(z|x) has no density for nll_is
        assert "ImportanceSampledNLL" not in {type(cb).__name__ for cb in metrics}


def test_experiment_toy_composes() -> None:
    cfg = compose_config(["experiment=toy"])
    assert (cfg.data.name, cfg.latent_dim, cfg.model.lam) == ("toy", 1, 500.0)
    assert (cfg.model.likelihood.name, cfg.model.likelihood.sigma, cfg.model.likelihood.learn_sigma) == (
        "gaussian",
        0.1,
        True,
    )


def test_dropping_a_metric_that_the_experiment_tunes(caplog) -> None:
    # The experiment sets metrics.nll_is.num_samples; without nll_is in the list that is a bare dict, which
    # must not reach the Trainer as a "callback".
    cfg = compose_config(["experiment=information_preference", "metrics=[latent_usage,mmd_full]"])
    assert "_target_" not in cfg.metrics.nll_is
    with caplog.at_level("WARNING"):
        built = _build_all("metrics", cfg.metrics)
    assert [type(cb).__name__ for cb in built] == ["LatentUsage", "FullMMD"]
    assert "metrics.nll_is sets options but selects nothing" in caplog.text


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("model.lamm=3", "lamm"),  # misspelled key
        ("latent_dim=abc", "abc"),  # wrong type
        ("model.alpha=high", "high"),
        ("data.batch_size=1.5", "1.5"),
        ("trainer.max_step=10", "max_step"),
        ("model=vqvae", "vqvae"),  # unknown option
        ("data=imagenet", "imagenet"),
        ("net=resnet", "resnet"),
        ("metrics.mmd_full.kernal=imq", "kernal"),
        ("metrics.nll_is.num_samples=many", "many"),
    ],
)
def test_typos_and_wrong_types_fail_at_composition(override: str, named: str) -> None:
    with pytest.raises(Exception) as info:
        OmegaConf.resolve(compose_config([override]))
    assert info.type.__name__ in ("ConfigCompositionException", "ValidationError", "MissingConfigException")
    # The message names what was wrong (Hydra may chain the detail as the cause).
    assert named in f"{info.value} {info.value.__cause__}"


METRIC_OPTIONS = ["mmd_full", "logdet", "latent_usage", "nll_is", "semisup", "class_dist", "pictures"]
METRIC_CLASSES = {
    "mmd_full": "FullMMD",
    "logdet": "LogDetCovariance",
    "latent_usage": "LatentUsage",
    "nll_is": "ImportanceSampledNLL",
    "semisup": "SemiSupervisedAccuracy",
    "class_dist": "ClassDistributionCE",
    "pictures": "Pictures",
}


def test_metric_presets_compose_and_instantiate_as_metrics(tmp_path) -> None:
    options = sorted(p.stem for p in (CONFIG_DIR / "metrics").glob("*.yaml"))
    assert options == sorted(METRIC_OPTIONS + ["default", "paper", "none"])
    default = compose_config([], tmp_path)
    assert set(default.metrics) == {"mmd_full", "logdet", "latent_usage", "nll_is", "pictures"}
    paper = compose_config(["data=mnist", "metrics=paper"], tmp_path)
    assert set(paper.metrics) == set(METRIC_OPTIONS)
    assert paper.metrics.nll_is.num_samples == 5000
    assert paper.metrics.class_dist.classifier == "classifiers/mnist_digits.pt"
    for name, node in paper.metrics.items():
        metric = instantiate(node)  # nothing is loaded before setup
        assert type(metric).__name__ == METRIC_CLASSES[name]
    assert not compose_config(["metrics=none"]).get("metrics")
    chosen = compose_config(["metrics=[nll_is,logdet]", "metrics.nll_is.num_samples=50"], tmp_path)
    assert set(chosen.metrics) == {"nll_is", "logdet"} and chosen.metrics.nll_is.num_samples == 50


def test_metric_keys_and_defaults_are_the_arguments_of_their_classes(tmp_path) -> None:
    """Every argument of a metric (its own and `Metric`'s schedule) is a config key, with the signature's
    default unless its YAML says otherwise; a YAML states only values that differ from the code's."""
    cfg = compose_config(["data=mnist", "metrics=paper", "metrics.logdet.every_n_val_epochs=2"], tmp_path)
    for name in METRIC_OPTIONS:
        node = cfg.metrics[name]
        raw = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "metrics" / f"{name}.yaml"))
        given = raw.get(name, {})
        expected = {"_target_": f"infovae_lightning.metrics.{METRIC_CLASSES[name]}"}
        for key, (_, default) in keyword_parameters(type(instantiate(node))).items():
            if key not in given:
                expected[key] = default
            else:
                assert given[key] != default, f"{name}.yaml repeats the default of {key}"
        if name == "logdet":
            expected["every_n_val_epochs"] = 2
        if name == "nll_is":
            expected["num_samples"] = 5000  # metrics=paper: the paper's K
        assert {k: node[k] for k in expected} == expected, name
        assert set(node) == set(expected) | set(given), name


def test_binarized_mnist_evaluates_class_aware_metrics_on_labelled_mnist(tmp_path) -> None:
    assert compose_config(["data=mnist"]).eval_data is None  # labelled: its own splits
    cfg = compose_config(["data=binarized_mnist", f"data.root={tmp_path}", "metrics=paper"], tmp_path)
    assert cfg.eval_data.name == "mnist" and cfg.eval_data.binarize == "dynamic"
    assert cfg.eval_data.root == str(tmp_path)  # follows data.root
    probe = instantiate(cfg.metrics.semisup)
    assert probe.eval_data.dataset_name == "mnist"
    assert instantiate(cfg.metrics.mmd_full).eval_data is None  # the other metrics: the run's own data
    offline = compose_config(["data=binarized_mnist", "eval_data.source=test"])
    assert offline.eval_data.source == "test"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("metrics.mmd_full.kernel=gauss", "unknown MMD kernel 'gauss'"),
        ("metrics.nll_is.num_samples=6000", "num_samples must be in \\[1, 5000\\]"),
        ("metrics.logdet.every_n_val_epochs=0", "every_n_val_epochs must be >= 1"),
    ],
)
def test_bad_metric_settings_fail_at_instantiation(override: str, message: str, tmp_path) -> None:
    cfg = compose_config([override], tmp_path)
    with pytest.raises(InstantiationException, match=message):
        for node in cfg.metrics.values():
            instantiate(node)


def test_experiment_mmd_tutorial_is_the_authors_setting(tmp_path) -> None:
    cfg = compose_config(["experiment=mmd_tutorial"], tmp_path)
    model = cfg.model
    data = cfg.data
    assert (data.name, data.binarize, data.batch_size, cfg.latent_dim) == ("mnist", "none", 200, 20)
    assert cfg.net.encoder.name == cfg.net.decoder.name == "conv"
    assert (model.alpha, model.lam, model.deterministic, model.lr) == (1.0, 784.0, True, 1e-3)
    assert (model.likelihood.name, model.likelihood.sigma**2, model.likelihood.learn_sigma) == (
        "gaussian",
        pytest.approx(0.5),
        False,
    )
    assert (cfg.trainer.max_steps, set(cfg.metrics)) == (10_000, {"latent_usage", "class_dist", "pictures"})
    # validated, and its samples scored, every 1,000 steps on 8,000 or 60,000 training images alike
    assert (cfg.trainer.val_check_interval, cfg.trainer.check_val_every_n_epoch) == (1000, None)
    assert cfg.metrics.class_dist.every_n_val_epochs == 1


def test_a_metric_argument_of_union_type_reaches_the_metric_as_plain_values(tmp_path) -> None:
    """`budgets: list[int | str]`: `[100, all]` from a config is the int 100 and the string "all"."""
    cfg = compose_config(["metrics=[semisup]", "metrics.semisup.budgets=[100,all]"], tmp_path)
    assert instantiate(cfg.metrics.semisup).budgets == [100, "all"]
