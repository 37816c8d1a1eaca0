"""The package as installed: configs shipped in the wheel, found from any directory; the package list."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

from infovae_lightning.run import config

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "infovae_lightning").rglob("__init__.py")
    }
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"


def test_config_dir_prefers_the_packaged_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.config_dir() == ROOT / "conf" and config.sweeps_parent() == ROOT  # a checkout
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "train.yaml").write_text("{}")
    monkeypatch.setattr(config, "PACKAGED_CONF", tmp_path)  # as in a wheel: infovae_lightning/conf
    assert config.config_dir() == tmp_path and config.sweeps_parent() == tmp_path


@pytest.mark.slow  # CI builds and checks the wheel once more in .ci/wheel_check
def test_the_wheel_holds_every_config_and_sweep(tmp_path: Path) -> None:
    leftovers = [ROOT / "build", ROOT / "infovae_lightning.egg-info"]  # setuptools builds in the tree
    existed = {path for path in leftovers if path.exists()}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            tmp_path,
            ROOT,
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    for path in set(leftovers) - existed:
        shutil.rmtree(path, ignore_errors=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"infovae_lightning/conf/{p.relative_to(ROOT / 'conf')}" for p in (ROOT / "conf").rglob("*.yaml")
    }
    expected |= {f"infovae_lightning/conf/sweeps/{p.name}" for p in (ROOT / "sweeps").glob("*.yaml")}
    assert expected <= names, sorted(expected - names)
    assert "infovae_lightning/protocols.py" in names
