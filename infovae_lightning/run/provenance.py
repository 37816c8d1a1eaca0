"""Provenance for `summary.json`: the data files a run read (with their SHA-256), the package's version, and
the git commit of the checkout it ran from, so that a number in a report can be traced back to its inputs.
"""

from __future__ import annotations

import hashlib
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import infovae_lightning

REPO = Path(__file__).resolve().parents[2]

# path -> sha256 of every data file read in this process (the data loaders call `record_read`).
_FILES_READ: dict[str, str] = {}


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def record_read(path: Path) -> None:
    """Notes that `path` was read (its checksum is of the file as it is on disk, compressed or not)."""
    key = str(Path(path).resolve())
    if key not in _FILES_READ:
        _FILES_READ[key] = sha256(Path(path))


def files_read() -> dict[str, str]:
    """Every data file read so far in this process: path -> `sha256:<hex>`."""
    return {path: f"sha256:{digest}" for path, digest in sorted(_FILES_READ.items())}


def package_version() -> str:
    try:
        return metadata.version("infovae-lightning")
    except metadata.PackageNotFoundError:  # run from a checkout without installing it
        return infovae_lightning.__version__


def git_commit(repo: Path = REPO) -> dict[str, Any] | None:
    """`{"commit": <sha>, "dirty": <tracked files changed>}` when the package runs from a git checkout."""
    if not (repo / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def provenance() -> dict[str, Any]:
    """What summary.json records about where a run's numbers came from."""
    out: dict[str, Any] = {"package_version": package_version(), "data_files": files_read()}
    git = git_commit()
    if git is not None:
        out["git"] = git
    return out
