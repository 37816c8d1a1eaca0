"""Every config composes, instantiates what it names, and rejects typos and wrong types early."""

from __future__ import annotations

import itertools

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from infovae_lightning.train import CONFIG_DIR

MODELS = ["elbo", "beta", "mmd", "stein", "aae"]
DATA = ["toy", "mnist", "binarized_mnist", "fashion_mnist", "cifar10"]
NETS = ["mlp", "conv"]


def _compose(overrides: list[str], tmp_path=None):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    if tmp_path is not None:
        cfg.paths.output_dir = str(tmp_path)
    return cfg


def test_config_groups_are_all_tested() -> None:
    names = {
        group: sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))
        for group in ("model", "data", "net")
    }
    assert names == {"model": sorted(MODELS), "data": sorted(DATA), "net": sorted(NETS)}


@pytest.mark.parametrize(("model", "data", "net"), list(itertools.product(MODELS, DATA, NETS)))
def test_every_combination_composes_and_builds(model: str, data: str, net: str, tmp_path) -> None:
    cfg = _compose([f"model={model}", f"data={data}", f"net={net}"], tmp_path)
    OmegaConf.resolve(cfg)
    assert cfg.model.latent_dim == cfg.latent_dim
    if data == "toy" and net == "conv":
        with pytest.raises(InstantiationException, match="conv net needs"):
            instantiate(cfg.model, _convert_="all")
        return
    module = instantiate(cfg.model, _convert_="all")
    assert module.hparams.input_shape == list(cfg.model.input_shape)
    expected = "bernoulli" if data in ("mnist", "binarized_mnist", "fashion_mnist") else "gaussian"
    assert module.hparams.likelihood["name"] == expected
    assert module.hparams.likelihood["learn_sigma"] == (data == "toy")
    datamodule = instantiate(cfg.data)  # touches no file: loading happens in setup()
    assert tuple(datamodule.input_shape) == tuple(cfg.model.input_shape)


@pytest.mark.parametrize("logger", ["csv", "tensorboard", "wandb", "none"])
@pytest.mark.parametrize("trainer", ["default", "cpu"])
def test_trainer_logger_callbacks_instantiate(logger: str, trainer: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cfg = _compose([f"logger={logger}", f"trainer={trainer}"], tmp_path)
    loggers = [instantiate(node) for node in (cfg.logger or {}).values()]
    callbacks = [instantiate(node) for node in cfg.callbacks.values()]
    trainer_obj = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    assert trainer_obj.max_epochs == cfg.trainer.max_epochs
    assert trainer_obj.checkpoint_callback.dirpath.startswith(str(tmp_path))


def test_presets_have_the_papers_weights() -> None:
    weights = {m: (_compose([f"model={m}"]).model.alpha, _compose([f"model={m}"]).model.lam) for m in MODELS}
    assert weights == {
        "elbo": (0.0, 1.0),
        "beta": (-3.0, 4.0),
        "mmd": (0.0, 1000.0),
        "stein": (0.0, 1000.0),
        "aae": (1.0, 1.0),
    }
    beta = _compose(["model=beta", "model.lam=0.5"]).model
    assert (beta.alpha, beta.lam) == (0.5, 0.5)
    assert _compose(["model=aae", "model.alpha=0.5", "model.lam=3"]).model.alpha == 0.5


def test_experiment_toy_composes() -> None:
    cfg = _compose(["experiment=toy"])
    assert (cfg.data.name, cfg.latent_dim, cfg.model.lam) == ("toy", 1, 500.0)


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
    ],
)
def test_typos_and_wrong_types_fail_at_composition(override: str, named: str) -> None:
    with pytest.raises(Exception) as info:
        OmegaConf.resolve(_compose([override]))
    assert info.type.__name__ in ("ConfigCompositionException", "ValidationError", "MissingConfigException")
    # The message names what was wrong (Hydra may chain the detail as the cause).
    assert named in f"{info.value} {info.value.__cause__}"
