"""The config schemas come from the Python signatures: an argument added to a model is a config key with no
other edit, the presets hold only what differs from the code, and typos and wrong types still fail early.
(Checkpoints of earlier versions: tests/test_checkpoints.py.)"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Optional

import pytest
from helpers import ROOT, compose_config
from hydra.errors import HydraException
from hydra.utils import instantiate
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from infovae_lightning.models import MMDVAE, InfoVAE, ModelSpec, model_names, model_spec, register_model
from infovae_lightning.nets.registry import PARTS, network_names
from infovae_lightning.run import config
from infovae_lightning.run.schemas import keyword_parameters, make_schema, schema_type

CONFIG_ERRORS = (HydraException, OmegaConfBaseException)


class ProbeVAE(MMDVAE):
    """An MMD-VAE with one more keyword argument, as a user would add it to `MMDVAE.__init__`."""

    def __init__(self, probe_arg: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)


@pytest.fixture
def schemas_restored() -> Iterator[None]:
    mmd = model_spec("mmd")
    yield
    register_model(mmd, replace=True)  # the library's own record again
    config.register_schemas()  # the schemas of the library's own classes again


def fields(schema: type) -> dict[str, Any]:
    """`name -> default` of a schema (a default factory called)."""
    return {
        f.name: f.default_factory() if f.default is dataclasses.MISSING else f.default
        for f in dataclasses.fields(schema)
    }


def test_an_argument_added_to_a_model_is_a_config_key(schemas_restored: None, tmp_path: Path) -> None:
    with pytest.raises(CONFIG_ERRORS, match="probe_arg"):  # not a key of MMDVAE's schema
        compose_config(["model.probe_arg=5"])
    # Registering stores the schema: conf/model/mmd.yaml now extends ProbeVAE's.
    register_model(ModelSpec("mmd", ProbeVAE, "MMDConf"), replace=True)
    cfg = compose_config(["data=toy", "model.probe_arg=5"], tmp_path)
    assert cfg.model.probe_arg == 5 and cfg.model.lam == 1000.0  # MMDVAE's default, through **kwargs
    model = instantiate(cfg.model, _convert_="all")
    assert type(model) is ProbeVAE and model.hparams.probe_arg == 5
    assert compose_config(["data=toy"]).model.probe_arg == 3  # the signature's default
    with pytest.raises(CONFIG_ERRORS) as error:
        compose_config(["model.probe_arg=abc"])
    assert "probe_arg" in str(error.value)


def test_a_model_schema_holds_its_bases_arguments_with_its_own_defaults() -> None:
    base = keyword_parameters(InfoVAE)
    mmd = fields(config.MMDConf)
    assert set(base) <= set(mmd) and {"kernel", "estimator", "prior_samples"} <= set(mmd)
    assert (base["alpha"][1], base["lam"][1]) == (0.0, 1.0)
    assert (mmd["alpha"], mmd["lam"]) == (1.0, 1000.0)  # MMDVAE's, not InfoVAE's
    assert mmd["_target_"] == "infovae_lightning.models.MMDVAE"
    for key, default in config.FROM_THE_RUN["model"].items():  # interpolations of the run's keys
        assert mmd[key] == default


@pytest.mark.parametrize("model", ["elbo", "mmd", "stein", "aae"])
@pytest.mark.parametrize(("override", "named"), [("model.lamm=3", "lamm"), ("model.lam=abc", "lam")])
def test_typos_and_wrong_types_fail_naming_the_key(model: str, override: str, named: str) -> None:
    with pytest.raises(CONFIG_ERRORS) as error:
        compose_config([f"model={model}", override])
    assert getattr(error.value.__cause__ or error.value, "full_key", None) == f"model.{named}"


def test_the_interpolated_defaults_follow_the_run() -> None:
    cfg = compose_config(["data=mnist", "net=pixelcnn", "latent_dim=7"])
    assert (cfg.model.latent_dim, list(cfg.model.input_shape)) == (7, [1, 28, 28])
    assert cfg.model.net == cfg.net and cfg.model.likelihood.name == "bernoulli"
    cifar = compose_config(["data=cifar10"]).model.likelihood
    assert (cifar.name, cifar.levels, cifar.sigma_min) == ("gaussian", 256, 0.01)


def test_a_composed_config_pickles_for_a_launchers_worker() -> None:
    cfg = compose_config(["model=aae", "net=pixelcnn", "data=mnist"])
    copy = pickle.loads(pickle.dumps(cfg))  # its nodes name their generated schemas, found by import
    assert OmegaConf.to_container(copy) == OmegaConf.to_container(cfg)


PRESETS = sorted((ROOT / "conf" / "model").glob("*.yaml")) + sorted((ROOT / "conf" / "net").glob("*/*.yaml"))


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_preset_holds_only_values_that_differ_from_the_code(path: Path) -> None:
    preset = OmegaConf.to_container(OmegaConf.load(path))
    (base,) = (entry for entry in preset.pop("defaults") if entry.startswith("/schema/"))
    group, _, name = base.removeprefix("/schema/").partition("@")[0].rpartition("/")
    names = {("model", m): model_spec(m).schema for m in model_names()} | {
        (f"net/{kind}", n): config.net_schema_name(kind, n) for kind in PARTS for n in network_names(kind)
    }
    defaults = fields(config.SCHEMAS[names[group, name]])
    assert set(preset) <= set(defaults), f"{path.name}: keys not in its schema"
    restated = [key for key, value in preset.items() if defaults[key] == value]
    assert not restated, f"{path.name} restates the code's defaults of {restated}"


def test_hints_become_the_types_omegaconf_checks() -> None:
    assert schema_type(Sequence[int]) == list[int]
    assert schema_type(tuple[int, ...]) == list[int]
    assert schema_type(float | None) == Optional[float]  # noqa: UP045
    assert schema_type(dict[str, Any]) is Any and schema_type(str | Path) is Any


def test_an_interpolation_for_an_argument_the_code_lacks_is_refused() -> None:
    def build(width: int = 3) -> None: ...

    assert fields(make_schema("S", [(build, "")])) == {"width": 3}
    assert fields(make_schema("S", [(lambda depth: None, "")])) == {"depth": MISSING}
    with pytest.raises(TypeError, match="no argument height"):
        make_schema("S", [(build, "")], overrides={"height": "${height}"})
