"""Typed schemas for the Hydra configs in `conf/`, and the resolvers they use.

The schemas of the models, networks, likelihood and data are generated from the signatures of the classes
they build (`run.schemas`): the code holds each default once, and a keyword argument added to a model's
`__init__` is a config key with no other edit. Each config group file extends one of them (its defaults list
names `/schema/<group>/<x>`), so a misspelled key or a value of the wrong type fails when the config is
composed, before any work. The shared model keys default to interpolations of the top-level keys
(`latent_dim`, `net`, `data`: the table `FROM_THE_RUN`), so `latent_dim=2,5,10 -m` sweeps every model without
repeating them in each preset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.utils import get_class
from omegaconf import II, MISSING, OmegaConf

from infovae_lightning.data import (
    classifier_domain,
    gaussian_sigma,
    input_shape,
    intensity_levels,
    learns_sigma,
    natural_likelihood,
)
from infovae_lightning.data.datamodule import InfoVAEDataModule
from infovae_lightning.models import ModelSpec, model_names, model_spec
from infovae_lightning.models.registry import model_of_class
from infovae_lightning.models.registry import on_register as on_model_registered
from infovae_lightning.nets import build_likelihood
from infovae_lightning.nets.likelihoods import default_sigma_min
from infovae_lightning.nets.registry import BUILDER_ARGS, PARTS, network_names, network_spec, on_register
from infovae_lightning.run.loggers import job_name, sweep_group
from infovae_lightning.run.schemas import import_path, make_schema

REPO = Path(__file__).resolve().parents[2]  # a source checkout: conf/ and sweeps/ at its top level
PACKAGED_CONF = Path(__file__).resolve().parents[1] / "conf"  # a built wheel: conf/ with sweeps/ inside


def config_dir() -> Path:
    """The configs `infovae-train` composes: those installed with the package (a wheel), else the checkout's
    `conf/` (an editable install or PYTHONPATH), so an editable checkout edits them in place."""
    return PACKAGED_CONF if (PACKAGED_CONF / "train.yaml").is_file() else REPO / "conf"


def sweeps_parent() -> Path:
    """The folder holding `sweeps/` (Hydra's search path for `+sweeps=<name>`): the packaged conf/ of a wheel,
    else the checkout's top level."""
    return PACKAGED_CONF if (PACKAGED_CONF / "sweeps").is_dir() else REPO


CONFIG_DIR = config_dir()


def wandb_offline() -> bool:
    """True unless W&B credentials are available: then runs sync later with `wandb sync` instead of
    blocking on login. WANDB_MODE=online/offline, if set, decides."""
    mode = os.environ.get("WANDB_MODE")
    if mode:
        return mode != "online"
    if os.environ.get("WANDB_API_KEY"):
        return False
    netrc = os.path.expanduser(os.environ.get("NETRC", "~/.netrc"))
    try:
        with open(netrc) as f:
            return "api.wandb.ai" not in f.read()
    except OSError:
        return True


def _classifier_domain(name: str) -> str:
    """What a classifier of data set `name` recognises (binarized MNIST and MNIST: the same digits)."""
    return classifier_domain(name) or name


def _ddp_strategy(target: str) -> str:
    spec = model_of_class(get_class(target))
    return "ddp_find_unused_parameters_true" if spec is not None and spec.unused_parameters else "ddp"


def register_resolvers() -> None:
    resolvers = {
        "infovae.input_shape": lambda name: list(input_shape(name)),
        "infovae.likelihood": natural_likelihood,
        "infovae.learn_sigma": learns_sigma,
        "infovae.sigma": gaussian_sigma,
        "infovae.levels": intensity_levels,
        "infovae.sigma_min": default_sigma_min,
        "infovae.wandb_offline": wandb_offline,
        "infovae.sweeps_parent": lambda: str(sweeps_parent()),
        "infovae.wandb_group": sweep_group,
        "infovae.wandb_name": job_name,
        "infovae.sub": lambda a, b: a - b,
        "infovae.domain": _classifier_domain,
        # A model whose backward passes leave parameters without gradient (the AAE's players): DDP is told.
        "infovae.ddp_strategy": _ddp_strategy,
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


# --- schemas generated from the signatures --------------------------------------------------------------

# Keys whose defaults are not the code's but follow the run's top-level keys and its data set (through the
# resolvers above), so that `latent_dim=2,5,10 -m` or `data=cifar10` reaches every model without repeating
# them in each preset. The one place where generated schemas differ from the signatures they come from.
FROM_THE_RUN: dict[str, dict[str, Any]] = {
    "model": {
        "latent_dim": II("latent_dim"),
        "input_shape": II("infovae.input_shape:${data.name}"),
        "net": II("net"),
    },
    "model.likelihood": {
        # bernoulli for binary data, gaussian otherwise (logistic_mixture under the pixelcnn decoder)
        "name": "${infovae.likelihood:${data.name},${data.binarize},${net.decoder.name}}",
        "sigma": II("infovae.sigma:${data.name}"),  # images: the authors' sigma^2 = 1/2
        "learn_sigma": II("infovae.learn_sigma:${data.name}"),
        "levels": II("infovae.levels:${data.name}"),  # 256 on 8-bit data (dequantized)
        "sigma_min": II("infovae.sigma_min:${.levels}"),  # 0.01 on 8-bit data
    },
    "data": {"root": II("paths.data_dir"), "seed": II("seed")},
}


def likelihood_schema() -> type:
    """`model.likelihood`: the keyword arguments of `nets.build_likelihood`."""
    return make_schema(
        "LikelihoodConf",
        [(build_likelihood, "")],
        exclude=["input_shape"],
        overrides=FROM_THE_RUN["model.likelihood"],
        module=__name__,
    )


def model_schema(cls: type, name: str, likelihood: type) -> type:
    """A model's keys: its `__init__`'s arguments and those of the bases it passes `**kwargs` to, with
    `likelihood` (a schema) for its likelihood."""
    return make_schema(
        name,
        [(cls, "")],
        fixed={"_target_": import_path(cls)},
        overrides={**FROM_THE_RUN["model"], "likelihood": likelihood},
        module=__name__,
    )


def net_schema_name(kind: str, name: str) -> str:
    """The schema's class name of encoder or decoder `name`: `conv` decoder -> `ConvDecoderConf`."""
    return "".join(word.capitalize() for word in name.split("_")) + f"{kind.capitalize()}Conf"


def net_schema(kind: str, name: str) -> type:
    """`net.encoder` or `net.decoder` (`kind`) of network `name`: its `name` and the keyword arguments of
    the class registered under it (`nets.registry`), less those the builders pass (shapes, likelihood)."""
    network = network_spec(kind, name).network
    return make_schema(
        net_schema_name(kind, name),
        [(network, "")],
        exclude=BUILDER_ARGS,
        fixed={"name": name},
        module=__name__,
    )


def store_net_schema(kind: str, name: str) -> type:
    """Stores the schema of a registered network as `/schema/net/<kind>/<name>` (the base of
    `conf/net/<kind>/<name>.yaml`) and returns it. Done for every network, also one registered later."""
    schema = net_schema(kind, name)
    ConfigStore.instance().store(group=f"schema/net/{kind}", name=name, node=schema)
    _keep(schema)
    return schema


def data_schema() -> type:
    """`data` (and `eval_data`): the arguments of `InfoVAEDataModule`."""
    return make_schema(
        "DataConf",
        [(InfoVAEDataModule, "")],
        fixed={"_target_": import_path(InfoVAEDataModule)},
        overrides=FROM_THE_RUN["data"],
        module=__name__,
    )


# --- the whole run ----------------------------------------------------------------------------------------


@dataclass
class PathsConf:
    data_dir: str = "${oc.env:INFOVAE_DATA_DIR,data}"
    output_dir: str = "${hydra:runtime.output_dir}"
    classifier_dir: str = "classifiers"  # where `infovae-classifier` saves, and class_dist_ce looks


@dataclass
class TrainConf:
    seed: int = 0
    latent_dim: int = 2
    task_name: str = "train"
    ckpt_path: str | None = None  # resume the run saved in this checkpoint (with its own hyperparameters)
    resume: bool = False  # resume from <output_dir>/checkpoints/last.ckpt if there is one
    test: bool = False  # run the test loop after fitting
    threads: int | None = None  # torch CPU threads; null: its default, or the cores shared by parallel jobs
    paths: PathsConf = field(default_factory=PathsConf)
    model: Any = MISSING
    net: Any = MISSING
    data: Any = MISSING
    trainer: Any = MISSING
    logger: Any = None
    callbacks: Any = None
    metrics: Any = None  # evaluation callbacks (infovae_lightning.metrics)
    eval_data: Any = None  # a labelled data set for class-aware metrics, when `data` has none


def store_model_schema(spec: ModelSpec) -> type:
    """Stores the schema of registered model `spec` as `/schema/model/<name>` (a preset YAML extends it) and
    returns it."""
    schema = model_schema(spec.cls, spec.schema, SCHEMAS["LikelihoodConf"])
    ConfigStore.instance().store(group="schema/model", name=spec.name, node=schema)
    _keep(schema)
    return schema


def _keep(schema: type) -> None:
    """Makes `schema` a module attribute, where its `__module__` says it is: a composed config refers to its
    schema by name (a launcher that pickles the config for a worker imports it there)."""
    SCHEMAS[schema.__name__] = schema
    globals()[schema.__name__] = schema


def register_schemas() -> None:
    """Generates every schema from the current signatures and stores it (in `SCHEMAS` too, by name)."""
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConf)
    _keep(likelihood_schema())
    for kind in PARTS:
        for net in network_names(kind):
            store_net_schema(kind, net)
    for name in model_names():
        store_model_schema(model_spec(name))
    _keep(schema := data_schema())
    cs.store(group="schema/data", name="data", node=schema)


register_resolvers()
# The generated schemas by name (also module attributes: MMDConf, MlpEncoderConf, LikelihoodConf, DataConf,
# ...).
SCHEMAS: dict[str, type] = {}
register_schemas()
on_register(lambda kind, spec: store_net_schema(kind, spec.name))  # a network registered from now on
on_model_registered(store_model_schema)  # a model registered from now on
