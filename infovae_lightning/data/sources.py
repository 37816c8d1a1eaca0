"""Which data sets exist, their static facts, and one entry point that loads any official split.

`input_shape` and `natural_likelihood` read no data: the Hydra config resolves them while composing, before
anything is downloaded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from . import binarized_mnist, cifar10, digits, mnist
from .examples import Examples

DATASETS: tuple[str, ...] = ("toy", "digits", "mnist", "fashion_mnist", "binarized_mnist", "cifar10")
DATASET_SHAPES: dict[str, tuple[int, ...]] = {
    "toy": (1,),
    "digits": digits.SHAPE,
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "binarized_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}
NUM_CLASSES: dict[str, int | None] = {
    "toy": 2,
    "digits": digits.NUM_CLASSES,
    "mnist": 10,
    "fashion_mnist": 10,
    "binarized_mnist": None,
    "cifar10": 10,
}
# The files each data set is published as: binarized MNIST has its own validation split.
OFFICIAL_SPLITS: dict[str, tuple[str, ...]] = {
    "toy": (),
    "digits": (),  # one set, shipped with scikit-learn: split by the data module
    "mnist": ("train", "test"),
    "fashion_mnist": ("train", "test"),
    "binarized_mnist": ("train", "valid", "test"),
    "cifar10": ("train", "test"),
}
BINARIZE_MODES: tuple[str, ...] = ("dynamic", "threshold", "none")


def check_name(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return name


def input_shape(name: str) -> tuple[int, ...]:
    """The shape of one example of data set `name`, e.g. (1, 28, 28) for MNIST; reads no data."""
    return DATASET_SHAPES[check_name(name)]


def natural_likelihood(name: str, binarize: str = "none", net: str = "mlp") -> str:
    """ "bernoulli" for binary data (binarized MNIST, or any data set binarized); otherwise "gaussian", or,
    under an autoregressive decoder (net pixelcnn, which needs discrete pixels), "logistic_mixture"."""
    check_name(name)
    if binarize not in BINARIZE_MODES:
        raise ValueError(f"unknown binarize mode {binarize!r}; choose one of {', '.join(BINARIZE_MODES)}")
    if name == "binarized_mnist" or binarize != "none":
        return "bernoulli"
    return "logistic_mixture" if net == "pixelcnn" else "gaussian"


def learns_sigma(name: str) -> bool:
    """Whether the natural (Gaussian) decoder of data set `name` learns its σ.

    The toy data (x = ±1) with a unit-σ decoder gains at most 0.5 nat from encoding x, less than the KL it
    costs, so the latent would be ignored: there the decoder learns σ (per pixel).
    """
    return check_name(name) == "toy"


def gaussian_sigma(name: str) -> float:
    """The Gaussian decoder's σ (fixed, or initial when learned) for data set `name`: the authors' σ² = ½
    for images on [0, 1]; 1 for the toy data (x = ±1), as its experiments were measured; half a level (1/32)
    for the 8×8 digits, whose pixels take 17 levels: with σ = 1 a digit's 64 pixels gain less from encoding x
    than q(z) matching p(z) costs at λ = 1000, and every model ignores z."""
    name = check_name(name)
    return {"toy": 1.0, "digits": 1.0 / 32}.get(name, math.sqrt(0.5))


def intensity_levels(name: str) -> int | None:
    """How many values a pixel of data set `name` takes (256: 8-bit images, stored as k/255; 17 for the
    8×8 digits, k/16); None for the toy data, which are continuous. A Gaussian decoder on quantized data
    models the dequantized pixel."""
    name = check_name(name)
    return {"toy": None, "digits": 17}.get(name, 256)


def ensure_available(name: str, root: str | Path, splits: Iterable[str], download: bool) -> None:
    """Makes sure the files of the official `splits` of `name` are under `root`, downloading if allowed.

    Raises `DatasetNotFoundError` (one line: files expected, folders searched, the fix) otherwise.
    """
    root = Path(root).expanduser()
    splits = list(splits)
    if name == "binarized_mnist":
        binarized_mnist.ensure(root, splits, download)
    elif name in ("mnist", "fashion_mnist"):
        mnist.ensure(mnist.MNIST if name == "mnist" else mnist.FASHION_MNIST, root, splits, download)
    elif name == "cifar10":
        for split in splits:
            cifar10.ensure(root, split, download)
    else:
        check_name(name)  # toy is generated and digits ships with scikit-learn: nothing to fetch


def load_split(name: str, root: str | Path, split: str, download: bool = False) -> Examples:
    """One official split of a file-backed data set, in memory: float32 x in [0, 1] and int64 labels.

    Labels are -1 for binarized MNIST, which has none. The toy data set is generated: see `toy.toy`.
    """
    root = Path(root).expanduser()
    if split not in OFFICIAL_SPLITS[check_name(name)]:
        raise ValueError(f"{name} has no official split {split!r}; it has {OFFICIAL_SPLITS[name] or 'none'}")
    if name == "binarized_mnist":
        return binarized_mnist.load(root, split, download)
    if name in ("mnist", "fashion_mnist"):
        return mnist.load(mnist.MNIST if name == "mnist" else mnist.FASHION_MNIST, root, split, download)
    return cifar10.load(root, split, download)
