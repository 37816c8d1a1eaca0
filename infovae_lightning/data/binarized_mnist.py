"""Binarized MNIST of Larochelle & Murray (2011): the fixed binarization of the log-likelihood tables.

Published as text, one image a line, 784 space-separated 0/1 values: `binarized_mnist_{split}.amat` for
the splits train, valid and test, with 50,000 / 10,000 / 10,000 lines and no labels (the test set is not
in MNIST's order). The files are parsed on every load rather than cached in a binary form, because `root`
may be read-only (the offline copy is); the parse is one vectorised pass that also checks that every line
holds 784 values of 0 or 1.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from .errors import DatasetFormatError, not_found
from .examples import Examples, unlabelled
from .files import find, read_bytes, search_dirs, tidy_on_failure
from .registry import DEFAULT_SOURCE, DatasetSpec, SplitPlan, register_dataset

SPLITS = {"train": 50000, "valid": 10000, "test": 10000}
PIXELS = 28 * 28
URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/binarized_mnist_{split}.amat"
SUBDIR = "binarized_mnist"
_WHITESPACE = b" \t\r\n"


def filename(split: str) -> str:
    return f"binarized_mnist_{split}.amat"


def dirs(root: Path) -> list[Path]:
    return search_dirs(root, (SUBDIR,))


def parse_amat(text: bytes, path: Path, rows: int) -> np.ndarray:
    """The uint8 [rows, 784] array of 0/1 values in `text`; any deviation from the format names `path`."""
    lines = text.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()  # the newline that ends the last line
    if len(lines) != rows:
        raise DatasetFormatError(f"{path}: {len(lines)} lines, expected {rows} (truncated or wrong file?)")
    # Deleting the separators leaves one byte a value, so the whole file decodes with one vectorised pass.
    values = np.frombuffer(text.translate(None, _WHITESPACE), dtype=np.uint8)
    if values.size != rows * PIXELS:
        bad = next(i for i, line in enumerate(lines) if len(line.translate(None, _WHITESPACE)) != PIXELS)
        count = len(lines[bad].split())
        raise DatasetFormatError(f"{path}: line {bad + 1} has {count} values, expected {PIXELS}")
    values = values - ord("0")  # a new array: frombuffer's is read-only
    if (values > 1).any():  # bytes below '0' wrapped around to large values, so this catches them too
        raise DatasetFormatError(f"{path}: values other than 0 and 1 (is it a binarized MNIST .amat file?)")
    return values.reshape(rows, PIXELS)


def missing(root: Path, splits: Iterable[str]) -> list[str]:
    return [split for split in splits if find(filename(split), dirs(root)) is None]


def download(root: Path, splits: Iterable[str]) -> None:
    """Fetches the published `.amat` files into `root/binarized_mnist/`, each checked before it is kept.

    Each file is written to a temporary name and renamed once complete and valid, so an interrupted
    download never leaves a truncated file that a later run would mistake for the data set.
    """
    dest = root / SUBDIR
    dest.mkdir(parents=True, exist_ok=True)
    for split in splits:
        final = dest / filename(split)
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{final.name}.", suffix=".part")
        try:
            url = URL.format(split=split)
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, out)
            parse_amat(Path(tmp).read_bytes(), final, SPLITS[split])
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def ensure(root: Path, splits: Iterable[str], download_missing: bool) -> None:
    """Makes sure the files of `splits` exist under `root`, downloading the missing ones when allowed."""
    absent = missing(root, splits)
    if not absent:
        return
    reason = None
    if download_missing:
        try:
            with tidy_on_failure(root, root / SUBDIR):
                download(root, absent)
            return
        except Exception as e:  # no network, a read-only root, a corrupt download: report why
            reason = f"{type(e).__name__}: {e}"
    files = [f"{filename(split)}[.gz]" for split in absent]
    raise not_found("binarized_mnist", files, dirs(root), reason=reason)


def load(root: Path, split: str, download: bool = False) -> Examples:
    """The official `split` ("train", "valid" or "test"): float32 0/1 values [N, 1, 28, 28], labels -1."""
    ensure(root, [split], download)
    path = find(filename(split), dirs(root))
    assert path is not None  # ensure() raised otherwise
    values = parse_amat(read_bytes(path), path, SPLITS[split])
    return unlabelled(torch.from_numpy(values).to(torch.float32).view(-1, 1, 28, 28))


# Binary pixels (Bernoulli decoder); unlabelled, but the same digits as MNIST, whose classifier serves it.
# `levels` stays MNIST's 256 (used only if a Gaussian likelihood is asked for): the likelihood's
# hyperparameters, and so the resuming of runs saved before, are unchanged.
# The splits are the published files. The test file is sorted by digit (the 0s first, the 1s next, ...): in
# file order a batch holds one class, which inflates a batch's D(q(z)||p(z)), and a metric's first n
# examples (max_examples) would be nearly all 0s, so a fixed permutation mixes it.
SPEC = register_dataset(
    DatasetSpec(
        name="binarized_mnist",
        input_shape=(1, 28, 28),
        num_classes=None,
        levels=256,
        binary=True,
        load=load,
        fetch=ensure,
        official_splits=tuple(SPLITS),
        sources={DEFAULT_SOURCE: SplitPlan(files={"train": "train", "val": "valid", "test": "test"})},
        sorted_files=("test",),
        classifier_domain="mnist_digits",
        classifier_data="mnist",
    )
)
