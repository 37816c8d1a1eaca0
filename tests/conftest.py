"""Shared fixtures: the offline data beside the repository, and the repository root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("INFOVAE_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "binarized_mnist").is_dir():
        pytest.skip(
            f"offline data not found at {path} (see ../shared/data/README.md or set INFOVAE_SHARED_DATA)"
        )
    return path
