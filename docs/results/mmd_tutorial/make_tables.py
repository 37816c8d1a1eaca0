"""The table of docs/results.md's `experiment=mmd_tutorial` section: the samples' quality against steps.

Each job is keyed by its seed. The experiment validates every 1,000 steps and scores, on the validation
split, `class_dist_ce` (are 10,000 samples E[x|z], z ~ p(z), the data's classes in the data's proportions?),
how many classes no sample was labelled as, the reconstruction −log p(x|z) and the active units; the last row
is the test split's at the end. `runs.csv` (committed) holds every point read, so the table can be made again
from it alone:

    python docs/results/mmd_tutorial/make_tables.py /work/exp/<sweep> ...   # adds the sweeps to runs.csv
    python docs/results/mmd_tutorial/make_tables.py                         # from runs.csv
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from sweep_points import cell, last_values, points, stored_points  # noqa: E402

METRICS = {  # metric (without its split): (column title, format)
    "recon": ("−log p(x\\|z), nats", "{:.1f}"),
    "active_units": ("active units", "{:.0f}"),
    "class_dist_ce": ("`class_dist_ce`", "{:.3f}"),
    "class_dist_empty": ("classes never generated", "{:.1f}"),
}

# (split, metric) → seed → [(step, value)]
Series = dict[tuple[str, str], dict[int, list[tuple[int, float]]]]


def read_sweeps(sweeps: list[Path]) -> list[dict]:
    wanted = {f"{split}/{m}" for split in ("val", "test") for m in METRICS}
    return points(sweeps, lambda config: {"seed": config["seed"]}, wanted)


def series_of(rows: list[dict]) -> Series:
    series: Series = defaultdict(lambda: defaultdict(list))
    for r in rows:
        split, _, metric = r["metric"].partition("/")
        series[split, metric][int(r["seed"])].append((int(r["step"]), float(r["value"])))
    return series


def table(series: Series) -> str:
    """One row per validation (every 1,000 steps), then the test split's at the end; mean ± std over seeds."""
    head = ["split", "steps", "seeds", *(title for title, _ in METRICS.values())]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    val_steps = sorted({s for by_seed in series["val", "recon"].values() for s, _ in by_seed})
    test_steps = sorted({s for by_seed in series["test", "recon"].values() for s, _ in by_seed})
    # validation runs after the step's update (logged at 999, 1999, …), the test after the last (at 10,000)
    rows = [("validation", "val", s, s + 1) for s in val_steps]
    rows += [("test", "test", s, s) for s in test_steps[-1:]]
    for split, key, step, done in rows:
        values = {m: last_values(series[key, m], step) for m in METRICS}
        seeds = max(len(v) for v in values.values())
        cells = [cell(values[m], form) for m, (_, form) in METRICS.items()]
        lines.append(f"| {split} | {done:,} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    fields = ["seed", "step", "metric", "value"]
    rows = stored_points(HERE / "runs.csv", argv, read_sweeps, fields)
    print(table(series_of(rows)))


if __name__ == "__main__":
    main(sys.argv[1:])
