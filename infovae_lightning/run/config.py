"""Typed schemas for the Hydra configs in `conf/`, and the resolvers they use.

Each config group file extends one of these dataclasses (its defaults list names `/schema/<group>/<x>`), so a
misspelled key or a value of the wrong type fails when the config is composed, before any work. The
shared model keys default to interpolations of the top-level keys (`latent_dim`, `net`, `data`), so
`latent_dim=2,5,10 -m` sweeps every model without repeating them in each preset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING, OmegaConf

from infovae_lightning.data import (
    classifier_domain,
    gaussian_sigma,
    input_shape,
    intensity_levels,
    learns_sigma,
    natural_likelihood,
)
from infovae_lightning.nets.likelihoods import default_sigma_min
from infovae_lightning.nets.logistic_mixture import DEFAULT_COMPONENTS
from infovae_lightning.run.loggers import job_name, sweep_group

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
        # Each AAE player's backward pass leaves the other's parameters without gradient: DDP must be told.
        "infovae.ddp_strategy": lambda target: (
            "ddp_find_unused_parameters_true" if "AdversarialAE" in target else "ddp"
        ),
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


# --- networks (group `net`) -------------------------------------------------------------------------------


@dataclass
class MLPNetConf:
    name: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [200, 200, 200])


@dataclass
class ConvNetConf:
    name: str = "conv"
    channels: list[int] = field(default_factory=lambda: [64, 128])
    fc: int = 1024


@dataclass
class PixelCNNNetConf:
    name: str = "pixelcnn"
    channels: list[int] = field(default_factory=lambda: [64, 128])  # the conv encoder's
    fc: int = 1024
    pixel_layers: int = 5  # the decoder: gated layers, feature maps, kernel size
    pixel_channels: int = 16
    pixel_kernel: int = 5


# --- models (group `model`) -------------------------------------------------------------------------------


@dataclass
class LikelihoodConf:
    # bernoulli for binary data, gaussian otherwise (logistic_mixture under net=pixelcnn): derived from the
    # data set and net unless overridden.
    name: str = "${infovae.likelihood:${data.name},${data.binarize},${net.name}}"
    # gaussian only: fixed σ, or the initial value when learn_sigma; images: the authors' σ² = ½
    sigma: float = II("infovae.sigma:${data.name}")
    learn_sigma: bool = II("infovae.learn_sigma:${data.name}")  # gaussian only: learn a σ per pixel
    levels: int | None = II("infovae.levels:${data.name}")  # gaussian only: 256 on 8-bit data (dequantized)
    # gaussian only: the floor of a learned σ, 0.01 on 8-bit data (saved with the model)
    sigma_min: float = II("infovae.sigma_min:${.levels}")
    components: int = DEFAULT_COMPONENTS  # logistic_mixture only: logistics per pixel


@dataclass
class ModelConf:
    _target_: str = MISSING
    latent_dim: int = II("latent_dim")
    input_shape: list[int] = II("infovae.input_shape:${data.name}")
    alpha: float = 0.0
    lam: float = 1.0
    lam_warmup_steps: int = 0  # warm λ up from 1 over this many steps (an optimisation aid; 0: off)
    net: Any = II("net")
    likelihood: LikelihoodConf = field(default_factory=LikelihoodConf)
    std_floor: float = 1e-3
    deterministic: bool = False
    lr: float = 1e-3
    init_from: str | None = None  # fine-tune: start from this checkpoint's weights, with a fresh optimizer
    freeze: str | None = None  # encoder | decoder: keep that network fixed
    compile: bool = False  # torch.compile the loss computation (networks, likelihood, divergence)


@dataclass
class ELBOConf(ModelConf):
    _target_: str = "infovae_lightning.models.ELBOVAE"


@dataclass
class MMDConf(ModelConf):
    _target_: str = "infovae_lightning.models.MMDVAE"
    alpha: float = 1.0
    lam: float = 1000.0
    kernel: str = "gaussian"
    estimator: str = "biased"
    bandwidth: float | None = None
    distance: str = "matmul"
    prior_samples: int | None = None


@dataclass
class SteinConf(ModelConf):
    _target_: str = "infovae_lightning.models.SteinVAE"
    lam: float = 1000.0
    bandwidth: float | None = None


@dataclass
class AAEConf(ModelConf):
    _target_: str = "infovae_lightning.models.AdversarialAE"
    alpha: float = 1.0
    disc_hidden: list[int] = field(default_factory=lambda: [256, 256])
    disc_lr: float = 1e-4
    disc_steps: int = 1


# --- data (group `data`) ----------------------------------------------------------------------------------


@dataclass
class DataConf:
    _target_: str = "infovae_lightning.data.InfoVAEDataModule"
    name: str = MISSING
    root: str = II("paths.data_dir")
    batch_size: int = 100
    num_workers: int = 0
    binarize: str = "none"
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    source: str = "train"  # mnist/fashion_mnist/cifar10: the official file split into train/val/test
    download: bool = True
    seed: int = II("seed")
    toy_size: int = 10000
    on_device: bool = True  # on a GPU: hold each split there and index batches there (num_workers=0)


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


def register_schemas() -> None:
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConf)
    for group, name, node in [
        ("schema/net", "mlp", MLPNetConf),
        ("schema/net", "conv", ConvNetConf),
        ("schema/net", "pixelcnn", PixelCNNNetConf),
        ("schema/model", "elbo", ELBOConf),
        ("schema/model", "mmd", MMDConf),
        ("schema/model", "stein", SteinConf),
        ("schema/model", "aae", AAEConf),
        ("schema/data", "data", DataConf),
    ]:
        cs.store(group=group, name=name, node=node)


register_resolvers()
register_schemas()
