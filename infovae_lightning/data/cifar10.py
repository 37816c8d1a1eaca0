"""CIFAR-10 through torchvision, whose pickled batches in `<root>/cifar-10-batches-py/` are the format."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from infovae_lightning.run.provenance import record_read

from .errors import DatasetFormatError, not_found, one_line
from .examples import Examples
from .files import tidy_on_failure
from .registry import DatasetSpec, register_dataset, train_test_sources

FOLDER = "cifar-10-batches-py"
FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
SUBDIRS = ("cifar10", "cifar-10")  # accepted under root besides torchvision's own layout (root itself)


def dirs(root: Path) -> list[Path]:
    """Folders that may hold `cifar-10-batches-py/`: root (torchvision's layout) first, then subfolders."""
    return [root] + [root / sub for sub in SUBDIRS]


def locate(root: Path, split: str) -> Path | None:
    for folder in dirs(root):
        if all((folder / FOLDER / name).is_file() for name in FILES[split]):
            return folder
    return None


def ensure(root: Path, split: str, download: bool) -> Path:
    """The folder whose `cifar-10-batches-py/` holds `split`, downloaded into `root` when allowed."""
    found = locate(root, split)
    if found is not None:
        return found
    reason = None
    if download:
        try:
            import torchvision.datasets

            with tidy_on_failure(root):
                torchvision.datasets.CIFAR10(str(root), train=split == "train", download=True)
            return root
        except Exception as e:  # no network, a read-only root, a bad checksum: report why
            reason = f"{type(e).__name__}: {e}"
    files = [f"{FOLDER}/{name}" for name in FILES[split]]
    raise not_found("cifar10", files, dirs(root), reason=reason)


def fetch(root: Path, splits: Iterable[str], download: bool) -> None:
    """Makes sure the files of every one of `splits` exist (see `ensure`)."""
    for split in splits:
        ensure(root, split, download)


def load(root: Path, split: str, download: bool = False) -> Examples:
    """The official `split` ("train" or "test"): float32 intensities in [0, 1], [N, 3, 32, 32], labels."""
    import torchvision.datasets

    folder = ensure(root, split, download)
    try:
        data = torchvision.datasets.CIFAR10(str(folder), train=split == "train", download=False)
    except RuntimeError as e:  # torchvision's md5 check failed: a truncated or altered batch file
        message = f"{folder / FOLDER}: {one_line(str(e))}; delete it and download again"
        raise DatasetFormatError(message) from e
    for name in FILES[split]:
        record_read(folder / FOLDER / name)
    x = torch.from_numpy(data.data).permute(0, 3, 1, 2).to(torch.float32).div_(255.0).contiguous()
    return Examples(x, torch.tensor(data.targets, dtype=torch.int64))


SPEC = register_dataset(
    DatasetSpec(
        name="cifar10",
        input_shape=(3, 32, 32),
        num_classes=10,
        levels=256,
        load=load,
        fetch=fetch,
        official_splits=tuple(FILES),
        sources=train_test_sources(),
        classifier_domain="cifar10",
        classifier_data="cifar10",
    )
)
