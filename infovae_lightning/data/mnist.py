"""MNIST and Fashion-MNIST: the four published IDX files, flat under `root`, in a named subfolder, or in
the layout torchvision downloads to (`<root>/MNIST/raw/`, `<root>/FashionMNIST/raw/`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from .errors import DatasetFormatError, not_found
from .examples import Examples
from .files import find, search_dirs, tidy_on_failure
from .idx import read_idx
from .registry import DatasetSpec, register_dataset, train_test_sources

# Official split -> (images file, labels file, number of examples); the same names for both data sets.
IDX_SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}


@dataclass(frozen=True)
class IdxDataset:
    name: str
    subdirs: tuple[str, ...]  # where under root to look before root itself
    torchvision_class: str  # the torchvision.datasets class that downloads it

    def dirs(self, root: Path) -> list[Path]:
        return search_dirs(root, self.subdirs)

    def locate(self, root: Path, split: str) -> tuple[Path, Path] | None:
        """The images and labels files of `split`, both from the same folder (never a mix of layouts)."""
        images, labels, _ = IDX_SPLITS[split]
        for folder in self.dirs(root):
            found = find(images, [folder]), find(labels, [folder])
            if found[0] is not None and found[1] is not None:
                return found[0], found[1]
        return None

    def missing(self, root: Path, splits: Iterable[str]) -> list[str]:
        return [split for split in splits if self.locate(root, split) is None]


MNIST = IdxDataset("mnist", ("mnist", "MNIST/raw"), "MNIST")
FASHION_MNIST = IdxDataset(
    "fashion_mnist", ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw"), "FashionMNIST"
)


def ensure(spec: IdxDataset, root: Path, splits: Iterable[str], download: bool) -> None:
    """Makes sure the files of `splits` exist, downloading all four with torchvision when allowed."""
    splits = list(splits)
    missing = spec.missing(root, splits)
    if not missing:
        return
    reason = None
    if download:
        try:
            import torchvision.datasets

            # torchvision fetches (and md5-checks) all four files into <root>/<Class>/raw/ at once.
            raw = root / spec.torchvision_class / "raw"
            with tidy_on_failure(root, raw.parent, raw):
                getattr(torchvision.datasets, spec.torchvision_class)(str(root), train=True, download=True)
        except Exception as e:  # no network, a read-only root, a bad mirror: report why
            reason = f"{type(e).__name__}: {e}"
        else:
            missing = spec.missing(root, splits)
            if not missing:
                return
            reason = "the files are still missing after torchvision's download"
    files = [f"{name}[.gz]" for split in missing for name in IDX_SPLITS[split][:2]]
    hint = ""
    if "train" in missing and "test" not in spec.missing(root, ["test"]):
        # Offline, ../shared/data holds the MNIST test set only: say how to use it rather than substituting.
        hint = "only the test set is there: data.source=test splits it into train/val/test"
    raise not_found(spec.name, files, spec.dirs(root), reason=reason, hint=hint)


def load(spec: IdxDataset, root: Path, split: str, download: bool = False) -> Examples:
    """The official `split` ("train" or "test"): float32 intensities in [0, 1], [N, 1, 28, 28], labels."""
    ensure(spec, root, [split], download)
    located = spec.locate(root, split)
    assert located is not None  # ensure() raised otherwise
    images_path, labels_path = located
    count = IDX_SPLITS[split][2]
    images = read_idx(images_path, (count, 28, 28))
    labels = read_idx(labels_path, (count,))
    if labels.max() > 9:
        raise DatasetFormatError(f"{labels_path}: labels outside 0..9 (max {labels.max()})")
    x = torch.from_numpy(images.astype("float32") / 255.0).unsqueeze(1)
    return Examples(x, torch.from_numpy(labels.astype("int64")))


def record(idx: IdxDataset, classifier_domain: str) -> DatasetSpec:
    """The record of an IDX data set: 28×28 grey 8-bit images in ten classes, published as train and test."""
    return DatasetSpec(
        name=idx.name,
        input_shape=(1, 28, 28),
        num_classes=10,
        levels=256,
        load=partial(load, idx),
        fetch=partial(ensure, idx),
        official_splits=tuple(IDX_SPLITS),
        sources=train_test_sources(),
        classifier_domain=classifier_domain,
        classifier_data=idx.name,
    )


MNIST_SPEC = register_dataset(record(MNIST, classifier_domain="mnist_digits"))
FASHION_MNIST_SPEC = register_dataset(record(FASHION_MNIST, classifier_domain="fashion_mnist"))
