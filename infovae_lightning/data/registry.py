"""The registry of data sets: one `DatasetSpec` per data set, registered by the module that loads it.

The DataModule, the config resolvers, the metrics and the classifier ask the registry and name no data set,
so that a new data set is one module (its loader and its record) plus one `conf/data/<name>.yaml`.
The static questions (`input_shape`, `natural_likelihood`, ...) read no data: the Hydra config resolves
them while composing, before anything is downloaded.

Adding a data set (SVHN, say):

1. `infovae_lightning/data/svhn.py`: a loader `load(root, split, download) -> Examples` (float32 x, int64
   labels), a `fetch(root, splits, download)` that finds or downloads the files, and
   `SPEC = register_dataset(DatasetSpec(name="svhn", input_shape=(3, 32, 32), num_classes=10, levels=256,
   load=load, fetch=fetch, official_splits=("train", "test"), sources=train_test_sources(), ...))`.
   The package imports each of its modules, which registers the record.
2. `conf/data/svhn.yaml`: the schema in its defaults list, `name: svhn`, and the values that differ from
   `DataConf`'s (e.g. `batch_size`).

A data set outside the package registers the same way from the user's own module (see
tests/test_dataset_registry.py, which trains on one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infovae_lightning.nets.likelihoods import GREY_SIGMA, default_sigma_min
from infovae_lightning.nets.registry import decoder_spec

from .binarize import check_mode
from .examples import Examples

SPLITS: tuple[str, ...] = ("train", "val", "test")  # the splits a DataModule serves
DEFAULT_SOURCE = "train"  # the `data.source` every data set has

Loader = Callable[[Path, str, bool], Examples]  # (root, official split, download) -> that split, in memory
Fetcher = Callable[[Path, Sequence[str], bool], None]  # (root, official splits, download): the files exist
Generator = Callable[[int, int], Examples]  # (size, seed) -> a generated split


@dataclass(frozen=True)
class SplitPlan:
    """Where the train, val and test splits of one `data.source` come from.

    Args:
        files: the official split (published file) each of train/val/test is read from; empty for a
            generated data set.
        held_out: default sizes of the splits cut out of the training split's file (or, for a generated
            data set, of the generated val/test), in the order they are cut: the order fixes which examples
            each gets, so it is part of the data set's definition.
    """

    files: Mapping[str, str] = field(default_factory=dict)
    held_out: Mapping[str, int] = field(default_factory=dict)


def train_test_sources(
    val_size: int = 5000, test_split: tuple[int, int] = (1000, 1000)
) -> dict[str, SplitPlan]:
    """The plans of a data set published as a train and a test file (MNIST, CIFAR-10).

    `source=train`: val is `val_size` examples held out of the training file, test the test file.
    `source=test`, for offline use (`../shared/data` holds MNIST's test file alone): the test file split into
    test and val (`test_split` examples each, cut in that order) and train, the rest; never substituted
    silently for a missing training file.
    """
    return {
        "train": SplitPlan(
            files={"train": "train", "val": "train", "test": "test"}, held_out={"val": val_size}
        ),
        "test": SplitPlan(
            files=dict.fromkeys(SPLITS, "test"), held_out={"test": test_split[0], "val": test_split[1]}
        ),
    }


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the library knows about one data set, in one place.

    Args:
        name: the `data.name` that selects it (and the stem of its `conf/data/<name>.yaml`).
        input_shape: the shape of one example, e.g. (1, 28, 28).
        num_classes: number of labels; None for an unlabelled data set (its labels are `NO_LABEL`).
        levels: values a pixel takes (17 for the 8×8 digits, 256 for 8-bit images); None for continuous
            data. A Gaussian decoder on quantized data models the dequantized pixel.
        binary: pixels are 0 or 1: the natural likelihood is Bernoulli and binarizing changes nothing.
        load: reads one official split into memory: `load(root, split, download)`.
        fetch: makes the files of some official splits exist under `root` (downloading when allowed) or
            raises `DatasetNotFoundError`; None when nothing is read from `data.root` (the data is
            generated, or shipped inside a package).
        official_splits: the splits as published, e.g. ("train", "test"); what `load` accepts.
        sources: `data.source` -> its `SplitPlan`. Every data set has `train`; one whose official file can
            also be split into train/val/test (offline use of a test file) has `test` too.
        generate: for a generated data set, `generate(size, seed)`; `data.toy_size` is its training size.
        sorted_files: official splits stored in an order (e.g. by class) that a fixed permutation mixes.
        value_range: the range of x: (0, 1) for intensities, which alone can be binarized.
        gaussian_sigma: the Gaussian decoder's σ (fixed, or initial when learned).
        learn_sigma: whether the natural Gaussian decoder learns its σ.
        classifier_domain: what a classifier of this data set recognises (data sets holding the same
            classes share one); None where no classifier exists (class_dist_ce refuses it).
        classifier_data: the labelled data set a classifier of this domain is trained on.
    """

    name: str
    input_shape: tuple[int, ...]
    num_classes: int | None
    levels: int | None
    binary: bool = False
    load: Loader | None = None
    fetch: Fetcher | None = None
    official_splits: tuple[str, ...] = ()
    sources: Mapping[str, SplitPlan] = field(default_factory=dict)
    generate: Generator | None = None
    sorted_files: tuple[str, ...] = ()
    value_range: tuple[float, float] = (0.0, 1.0)
    gaussian_sigma: float = GREY_SIGMA
    learn_sigma: bool = False
    classifier_domain: str | None = None
    classifier_data: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if (self.load is None) == (self.generate is None):
            problems.append("give exactly one of load (official files) and generate")
        if self.load is not None and not self.official_splits:
            problems.append("load needs official_splits")
        if DEFAULT_SOURCE not in self.sources:
            problems.append(f"sources must include {DEFAULT_SOURCE!r}")
        for source, plan in self.sources.items():
            wanted = set() if self.generate is not None else set(SPLITS)
            if set(plan.files) != wanted:
                problems.append(f"source {source!r}: files must map {sorted(wanted) or 'nothing'}")
            if set(plan.files.values()) - set(self.official_splits):
                problems.append(f"source {source!r}: files outside official_splits {self.official_splits}")
            if self.generate is not None and set(plan.held_out) != {"val", "test"}:
                problems.append(f"source {source!r}: generated data need held_out sizes of val and test")
            elif set(plan.held_out) - {"val", "test"}:
                problems.append(f"source {source!r}: only val and test can be held out")
            elif plan.files and any(plan.files[split] != plan.files["train"] for split in plan.held_out):
                problems.append(f"source {source!r}: held-out splits must come from train's file")
        if self.levels is not None and self.levels < 2:
            problems.append(f"levels must be >= 2 or None, got {self.levels}")
        if (self.classifier_domain is None) != (self.classifier_data is None):
            problems.append("give both classifier_domain and classifier_data, or neither")
        if problems:
            raise ValueError(f"data set {self.name!r}: {'; '.join(problems)}")

    @property
    def intensities(self) -> bool:
        """x on [0, 1]: what `binarize` (x > 0.5, or Bernoulli(x)) needs."""
        return tuple(self.value_range) == (0.0, 1.0)


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Adds `spec` under `spec.name` (refusing to replace another record unless `replace`); returns it."""
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"data set {spec.name!r} is already registered; pass replace=True to redefine it")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_dataset(name: str) -> None:
    """Removes data set `name` (tests that register a data set of their own clean up with it)."""
    dataset_spec(name)
    del _REGISTRY[name]


def dataset_names() -> tuple[str, ...]:
    """The registered data sets, in registration order."""
    return tuple(_REGISTRY)


def dataset_spec(name: str) -> DatasetSpec:
    """The record of data set `name`; a `ValueError` listing the registered names for an unknown one."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(_REGISTRY)}") from None


# --- static facts, for the config resolvers (they read no data) ---------------------------------------------


def input_shape(name: str) -> tuple[int, ...]:
    """The shape of one example of data set `name`, e.g. (1, 28, 28) for MNIST."""
    return tuple(dataset_spec(name).input_shape)


def natural_likelihood(name: str, binarize: str = "none", decoder: str = "mlp") -> str:
    """ "bernoulli" for binary data (a binary data set, or any data set binarized); otherwise "gaussian", or,
    under a decoder that refuses it (the autoregressive pixelcnn, which needs discrete pixels: its record in
    `nets.registry` says), "logistic_mixture"."""
    spec = dataset_spec(name)
    check_mode(binarize)
    if spec.binary or binarize != "none":
        return "bernoulli"
    return "gaussian" if decoder_spec(decoder).accepts("gaussian") else "logistic_mixture"


def gaussian_sigma(name: str) -> float:
    """The Gaussian decoder's σ (fixed, or initial when learned) for data set `name` (see its record)."""
    return dataset_spec(name).gaussian_sigma


def learns_sigma(name: str) -> bool:
    """Whether the natural Gaussian decoder of data set `name` learns its σ (per pixel)."""
    return dataset_spec(name).learn_sigma


def intensity_levels(name: str) -> int | None:
    """How many values a pixel of data set `name` takes; None for continuous data."""
    return dataset_spec(name).levels


def likelihood_defaults(name: str, binarize: str = "none", decoder: str = "mlp") -> dict[str, Any]:
    """The decoder likelihood that fits data set `name` (under the decoder network named `decoder`) as
    `make_likelihood`'s keywords: name, sigma, learn_sigma, levels and sigma_min; what a model gets unless its
    config says otherwise."""
    levels = intensity_levels(name)
    return {
        "name": natural_likelihood(name, binarize, decoder),
        "sigma": gaussian_sigma(name),
        "learn_sigma": learns_sigma(name),
        "levels": levels,
        "sigma_min": default_sigma_min(levels),
    }


def classifier_domain(name: str) -> str | None:
    """What a classifier of data set `name` recognises (MNIST and binarized MNIST: the same digits); None
    where there is no classifier."""
    return dataset_spec(name).classifier_domain


def classifiable_datasets() -> tuple[str, ...]:
    """The data sets a class_dist_ce classifier exists for, in registration order."""
    return tuple(name for name, spec in _REGISTRY.items() if spec.classifier_domain is not None)


def selectable_sources(name: str) -> tuple[str, ...]:
    """The values `data.source` takes for data set `name` (`train`, and `test` where the test file splits)."""
    return tuple(dataset_spec(name).sources)


# --- files --------------------------------------------------------------------------------------------------


def ensure_available(name: str, root: str | Path, splits: Iterable[str], download: bool) -> None:
    """Makes sure the files of the official `splits` of `name` are under `root`, downloading if allowed.

    Raises `DatasetNotFoundError` (one line: files expected, folders searched, the fix) otherwise. Nothing
    to do for a data set that reads no files.
    """
    spec = dataset_spec(name)
    if spec.fetch is not None:
        spec.fetch(Path(root).expanduser(), list(splits), download)


def load_split(name: str, root: str | Path, split: str, download: bool = False) -> Examples:
    """One official split of a data set, in memory: float32 x and int64 labels (`NO_LABEL` if it has none).

    A generated data set (toy) has no official split: see its `generate`.
    """
    spec = dataset_spec(name)
    if split not in spec.official_splits or spec.load is None:
        raise ValueError(f"{name} has no official split {split!r}; it has {spec.official_splits or 'none'}")
    return spec.load(Path(root).expanduser(), split, download)
