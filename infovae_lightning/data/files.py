"""Finding and reading data files that may be gzipped, in the layouts users actually have on disk."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from infovae_lightning.run.provenance import record_read

from .errors import DatasetFormatError


def search_dirs(root: Path, subdirs: Sequence[str]) -> list[Path]:
    """`root`'s named subfolders first (they say which data set they hold), then `root` itself (flat)."""
    return [root / sub for sub in subdirs] + [root]


def find(filename: str, dirs: Sequence[Path]) -> Path | None:
    """The first `filename` or `filename.gz` found in `dirs`, in order; None when absent everywhere."""
    for folder in dirs:
        for candidate in (folder / filename, folder / f"{filename}.gz"):
            if candidate.is_file():
                return candidate
    return None


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it ends in `.gz`; a truncated archive names the file."""
    try:
        record_read(path)
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        message = f"{path}: corrupt or truncated gzip file ({e}); delete it and download again"
        raise DatasetFormatError(message) from e


@contextmanager
def tidy_on_failure(*dirs: Path) -> Iterator[None]:
    """Removes those of `dirs` that a failed download created and left empty.

    Downloaders create their target folders before the first request, so without this an offline attempt
    would leave empty `MNIST/raw/`-style folders behind in the user's data folder.
    """
    # Parents too: a download into a root that does not exist yet creates the whole chain.
    new = {p for d in dirs for p in (d, *d.parents) if not p.exists()}
    try:
        yield
    except BaseException:
        for folder in sorted(new, key=lambda p: len(p.parts), reverse=True):  # deepest first
            try:
                folder.rmdir()  # only succeeds when empty: never removes anything downloaded
            except OSError:
                pass
        raise
