"""The model registry: each built-in model is a record its module registers, the config's schemas come from
it, and a new divergence is one module (here: this test) plus one YAML."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import ROOT, compose_config
from torch import Tensor

from infovae_lightning.models import (
    ELBOVAE,
    MMDVAE,
    AdversarialAE,
    InfoVAE,
    ModelSpec,
    SteinVAE,
    model_names,
    model_spec,
    register_model,
)
from infovae_lightning.models.base import Divergence
from infovae_lightning.models.registry import unregister_model
from infovae_lightning.run import config
from infovae_lightning.run.train import run


def test_the_built_in_models_are_registered_with_their_presets() -> None:
    assert {name: model_spec(name).cls for name in model_names()} == {
        "elbo": ELBOVAE,
        "mmd": MMDVAE,
        "stein": SteinVAE,
        "aae": AdversarialAE,
    }
    presets = {path.stem for path in (ROOT / "conf" / "model").glob("*.yaml")}
    assert set(model_names()) <= presets  # beta.yaml extends elbo's schema
    assert [name for name in model_names() if model_spec(name).unused_parameters] == ["aae"]
    with pytest.raises(ValueError, match="unknown model 'vae'; choose one of"):
        model_spec("vae")
    with pytest.raises(ValueError, match="already registered"):
        register_model(ModelSpec("mmd", MMDVAE))


@pytest.mark.parametrize(("model", "strategy"), [("aae", "ddp_find_unused_parameters_true"), ("mmd", "ddp")])
def test_ddp_is_told_of_unused_parameters_by_the_record(model: str, strategy: str) -> None:
    cfg = compose_config([f"model={model}", "trainer=ddp"])
    assert cfg.trainer.strategy == strategy


class SlicedWassersteinVAE(InfoVAE):
    """D = the sliced Wasserstein-2 distance between the batch and as many prior samples, over `projections`
    random directions: a divergence the library does not ship."""

    def __init__(self, projections: int = 8, alpha: float = 1.0, lam: float = 10.0, **kwargs: Any) -> None:
        super().__init__(alpha=alpha, lam=lam, **kwargs)

    def divergence(self, z: Tensor) -> Divergence:
        directions = torch.nn.functional.normalize(torch.randn(z.shape[1], self.hparams.projections), dim=0)
        a = (z @ directions).sort(dim=0).values
        b = (self.sample_prior(z.shape[0]) @ directions).sort(dim=0).values
        value = (a - b).square().mean()
        return Divergence(value, value.detach())


@pytest.fixture
def sliced() -> Iterator[ModelSpec]:
    spec = register_model(ModelSpec("sliced", SlicedWassersteinVAE))
    yield spec
    unregister_model("sliced")


def test_a_new_divergence_is_one_module_plus_one_yaml_and_trains(sliced: ModelSpec, tmp_path: Path) -> None:
    assert "SlicedWassersteinVAEConf" in config.SCHEMAS  # stored when registered
    conf = tmp_path / "conf"
    (conf / "model").mkdir(parents=True)
    yaml = "defaults:\n  - /schema/model/sliced@_here_\n  - _self_\nlam: 50\n"
    (conf / "model" / "sliced.yaml").write_text(yaml)
    overrides = [f"hydra.searchpath=[file://{conf}]", "data=toy", "model=sliced", "model.projections=4"]
    overrides += ["trainer.max_steps=3", "metrics=none", "logger=none"]
    overrides += ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
    cfg = compose_config(overrides, output_dir=tmp_path / "run")
    assert (cfg.model.projections, cfg.model.lam, cfg.model.alpha) == (4, 50, 1.0)
    assert cfg.model.latent_dim == cfg.latent_dim  # the shared keys come from the run, as for every model
    with pytest.raises(Exception, match="projectons"):  # the schema refuses a misspelled key
        compose_config([*overrides, "model.projectons=3"])
    metrics = run(cfg)
    assert math.isfinite(metrics["train/loss"])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["global_step"] == 3
