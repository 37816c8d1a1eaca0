"""The two ways loading a data set fails, each with a one-line message that says how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from infovae_lightning.errors import InfoVAEError


class DatasetNotFoundError(InfoVAEError, FileNotFoundError):
    """The files of a data set are not where we looked, and could not be downloaded.

    A subclass of `FileNotFoundError`, so callers that already handle missing files keep working; the
    message is one line (it is what a user sees at the end of a failed run) naming the files expected,
    the folders searched and the overrides that fix it.
    """


class DatasetFormatError(InfoVAEError, ValueError):
    """A data set file exists but is truncated or is not in the expected format; the message names it."""


def not_found(
    name: str, files: Iterable[str], searched: Iterable[Path], reason: str | None = None, hint: str = ""
) -> DatasetNotFoundError:
    """Builds the one-line error for missing files: what, where we looked, why a download failed, the fix."""
    where = ", ".join(str(p) for p in searched)
    message = f"{name}: {', '.join(files)} not found (searched {where})"
    if reason:
        message += f"; download failed: {one_line(reason)}"
    fix = "set data.root=<folder holding them>" + ("" if reason else " or data.download=true")
    message += f"; {hint + '; ' if hint else ''}{fix}"
    return DatasetNotFoundError(message)


def one_line(text: str, limit: int = 300) -> str:
    """Collapses whitespace (torchvision's download errors span lines) and caps the length."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
