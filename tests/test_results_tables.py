"""docs/results.md's measured tables are the ones its scripts make from the committed runs.

Each study under docs/results/ commits the points it read (`runs.csv`, `nll.csv`) and a script that prints its
tables from them; the tables pasted into docs/results.md must be those, line for line, so that a number in
the docs can always be traced to a committed run (and a re-run that changes one changes the docs).
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


def script(study: str, name: str = "make_tables") -> ModuleType:
    path = RESULTS / study / f"{name}.py"
    # a study's other scripts import its `make_tables` by that name: not another study's, imported before
    sys.modules.pop("make_tables", None)
    spec = importlib.util.spec_from_file_location(f"results_{study}_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def results_md() -> str:
    return (ROOT / "docs" / "results.md").read_text()


def tables(study: str) -> list[str]:
    module = script(study)
    if study == "mmd_presets":
        runs = rows(RESULTS / study / "runs.csv")
        return [module.table(runs, step) for step in (5000, 20000)]
    if study == "comparison_20k":
        series = module.series_of(rows(RESULTS / study / "runs.csv"))
        made = [module.table(series, step) for step in module.table_steps(series)]
        return [*made, module.rankings(series), module.nll_table(RESULTS / study / "nll.csv")]
    if study == "mnist_limited_20k":
        series = module.series_of(rows(RESULTS / study / "runs.csv"))
        codes = script(study, "train_codes").table(rows(RESULTS / study / "train_codes.csv"))
        return [*(made for _, _, made in module.tables(series)), codes]  # binarized, grey, then the codes
    if study == "information_preference_full":
        return module.tables(module.series_of(rows(RESULTS / study / "runs.csv")))
    if study == "mmd_tutorial":
        return [module.table(module.series_of(rows(RESULTS / study / "runs.csv")))]
    if study == "lambda_20k":
        regions = script(study, "class_regions").table(rows(RESULTS / study / "class_regions.csv"))
        return [*module.tables(*module.committed()), regions]
    raise ValueError(f"no tables known for {study}")


@pytest.mark.parametrize(
    "study",
    [
        "mmd_presets",
        "comparison_20k",
        "lambda_20k",
        "mnist_limited_20k",
        "mmd_tutorial",
        "information_preference_full",
    ],
)
def test_results_md_shows_the_tables_its_scripts_make(study: str, results_md: str) -> None:
    made_tables = tables(study)
    assert made_tables, f"{study}: its script made no table"
    for made in made_tables:
        assert made.count("\n") >= 2, f"{study}: an empty table"
        assert made in results_md, f"{study}: docs/results.md lacks this table, or shows another:\n{made}"


def test_stored_points_merges_new_sweeps_into_the_committed_runs(tmp_path: Path) -> None:
    """A study grows sweep by sweep: a job the sweeps hold replaces the stored one only if it ran as far."""
    spec = importlib.util.spec_from_file_location("sweep_points", RESULTS / "sweep_points.py")
    assert spec and spec.loader
    sweep_points = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep_points)
    fields = ["model", "seed", "step", "metric", "value"]

    def point(model: str, seed: int, step: int, value: float) -> dict:
        return dict(model=model, seed=seed, step=step, metric="val/recon", value=value)

    runs = tmp_path / "runs.csv"
    first = [point("ELBO", 0, 999, 1.0), point("ELBO", 1, 999, 2.0), point("AAE", 0, 1999, 3.0)]
    sweep_points.stored_points(runs, ["s1"], lambda _: first, fields)
    later = [point("ELBO", 0, 999, 9.0), point("ELBO", 0, 1999, 8.0), point("AAE", 0, 999, 7.0)]
    later.append(point("MMD", 2, 999, 6.0))
    merged = sweep_points.stored_points(runs, ["s2"], lambda _: later, fields)
    assert merged == rows(runs) == sweep_points.stored_points(runs, [], lambda _: [], fields)
    values = {(r["model"], r["seed"], r["step"]): float(r["value"]) for r in merged}
    assert values == {
        ("ELBO", "0", "999"): 9.0,  # replaced: the new run went further
        ("ELBO", "0", "1999"): 8.0,
        ("ELBO", "1", "999"): 2.0,  # kept: no new run of it
        ("AAE", "0", "1999"): 3.0,  # kept: the new run stopped earlier
        ("MMD", "2", "999"): 6.0,  # added
    }


def test_class_regions_tells_codes_out_of_place_from_a_decoder_that_loses_the_class() -> None:
    """class_regions.measure on a toy model: codes x ↦ N(x, 0.05²) with two classes split by the sign of the
    first axis, the identity decoder and a sign classifier. With the codes spread like p(z) every part of the
    decomposition is 0; moving class 1's codes out leaves the decoder right but takes p(z)'s share from it."""
    measure = script("lambda_20k", "class_regions").measure
    codes = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    labels = (codes[:, 0] > 0).long()
    model = SimpleNamespace(
        encoder=lambda x: torch.distributions.Normal(x, torch.full_like(x, 0.05)),
        decoder=SimpleNamespace(mean=lambda z: z),
    )

    def classifier(z: torch.Tensor) -> torch.Tensor:
        return torch.stack([-z[:, 0], z[:, 0]], dim=1)

    at_prior = measure(model, classifier, 2, codes, labels)
    for part in ("prior_ce", "snap_ce", "knn_ce", "codes_ce"):
        assert at_prior[part] < 0.01, (part, at_prior)
    assert at_prior["codes_acc"] == 1.0
    assert at_prior["width"] == pytest.approx(0.05)
    assert at_prior["spread"] == pytest.approx(1.0, abs=0.05)

    moved = codes.clone()
    moved[labels == 1, 0] += 3.0  # class 1's codes out beyond the prior's bulk
    out = measure(model, classifier, 2, moved, labels)
    assert out["codes_acc"] == 1.0 and out["codes_ce"] < 0.01  # the decoder keeps the class at the codes
    assert out["knn_ce"] > 0.3  # but class 1's codes hold little of p(z)
    assert out["snap_ce"] > 0.3  # and the prior samples' nearest codes decode mostly as class 0
