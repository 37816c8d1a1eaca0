"""Shared fixtures: the offline data beside the repository (`../shared/data`), or a skip with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import shared_data_dir


@pytest.fixture
def offline_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(
            f"offline data not found at {path} (see ../shared/data/README.md or set INFOVAE_SHARED_DATA)"
        )
    return path


@pytest.fixture
def binarized_root(offline_data: Path) -> Path:
    if not (offline_data / "binarized_mnist" / "binarized_mnist_test.amat.gz").is_file():
        pytest.skip(f"no binarized MNIST under {offline_data}")
    return offline_data
