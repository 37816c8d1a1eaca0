"""Tables and curves of docs/results.md's preset study, from the jobs of several sweep directories.

Each job is put in an arm (model, α, λ, deterministic encoder, λ warm-up) and its seed pooled with the arm's
other seeds; a metric's value at step S is the last one logged at or before S (validation runs at steps 499,
999, ...), so a 20,000-step job also gives its 5,000-step numbers. `runs.csv` (committed) holds every point
read, and the tables and the figure can be made again from it alone:

    python docs/results/mmd_presets/make_tables.py /work/exp/*_5k /work/exp/*_20k   # adds them to runs.csv
    python docs/results/mmd_presets/make_tables.py                                  # from runs.csv
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
METRICS = {  # metric: (column title, format)
    "val/recon": ("recon", "{:.1f}"),
    "val/kl": ("KL", "{:.1f}"),
    "val/mi": ("MI", "{:.2f}"),
    "val/active_units": ("active", "{:.1f}"),
    "val/class_dist_ce": ("class_dist_ce", "{:.3f}"),
    "val/class_dist_empty": ("empty", "{:.1f}"),
    "val/semisup_acc_all": ("semi-sup. 8k", "{:.3f}"),
    "val/mmd_full": ("mmd_full", "{:.4f}"),
}
CURVES = ("val/recon", "val/mi", "val/active_units", "val/class_dist_ce", "val/mmd_full")
# Recorded in runs.csv besides the tables' metrics: the batch divergence, for lambda_20k/make_tables.py.
RECORDED = {*METRICS, "val/div"}


def arm_of(config: dict) -> str:
    model = config["model"]
    name = model["_target_"].rpartition(".")[2]
    if name == "ELBOVAE":
        return "ELBO"
    arm = f"{name} α={model['alpha']:g} λ={model['lam']:g}"
    if model.get("deterministic"):
        arm += " det"
    if model.get("lam_warmup_steps"):
        arm += f" warm-up {model['lam_warmup_steps']}"
    if model.get("prior_samples"):
        arm += f" prior {model['prior_samples']}"
    return arm


def read_sweeps(sweeps: list[Path]) -> list[dict]:
    """Every (arm, seed, step, metric, value) of the completed jobs under `sweeps`."""
    sys.path.insert(0, str(HERE.parent))
    from sweep_points import points

    return points(sweeps, lambda config: dict(arm=arm_of(config), seed=config["seed"]), RECORDED)


def value_at(points: list[tuple[int, float]], step: int) -> float | None:
    before = [v for s, v in sorted(points) if s <= step]
    return before[-1] if before else None


def table(rows: list[dict], step: int) -> str:
    series: dict[tuple[str, str], dict[int, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    max_step: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["metric"] not in METRICS:
            continue
        series[r["arm"], r["metric"]][int(r["seed"])].append((int(r["step"]), float(r["value"])))
        max_step[r["arm"]] = max(max_step[r["arm"]], int(r["step"]))
    arms = sorted({r["arm"] for r in rows if max_step[r["arm"]] >= step - 1})
    head = ["arm", "seeds", *(title for title, _ in METRICS.values())]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for arm in arms:
        cells, seeds = [], set()
        for metric, (_, form) in METRICS.items():
            at = [value_at(points, step) for points in series[arm, metric].values()]
            values = [v for v in at if v is not None]
            seeds |= set(series[arm, metric])
            if not values:
                cells.append("—")
            elif len(values) == 1:
                cells.append(form.format(values[0]) + " (n=1)")
            else:
                mean, std = statistics.fmean(values), statistics.stdev(values)
                cells.append(f"{form.format(mean)} ± {form.format(std)}")
        lines.append(f"| {arm} | {len(seeds)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(CURVES), figsize=(4 * len(CURVES), 3.6))
    longest = max(int(r["step"]) for r in rows)
    arms = sorted({r["arm"] for r in rows if int(r["step"]) == longest})  # the arms run to the end
    for ax, metric in zip(axes, CURVES, strict=True):
        for arm in arms:
            by_seed: dict[int, dict[int, float]] = defaultdict(dict)
            for r in rows:
                if r["arm"] == arm and r["metric"] == metric:
                    by_seed[int(r["seed"])][int(r["step"])] = float(r["value"])
            steps = sorted(set.intersection(*(set(d) for d in by_seed.values()))) if by_seed else []
            if not steps:
                continue
            values = np.array([[d[s] for s in steps] for d in by_seed.values()])
            mean, std = values.mean(0), values.std(0)
            (line,) = ax.plot(steps, mean, label=f"{arm} (n={len(values)})")
            ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        ax.set_title(metric)
        ax.set_xlabel("step")
        if metric in ("val/class_dist_ce", "val/mmd_full"):
            ax.set_yscale("log")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(HERE.parent))
    from sweep_points import stored_points

    runs = HERE / "runs.csv"
    rows = stored_points(runs, argv, read_sweeps, ["arm", "seed", "step", "metric", "value"])
    for step in (5000, 20000):
        print(f"\n### step {step:,}\n\n{table(rows, step)}")
    figure(rows, HERE / "curves.png")
    print(f"\nwrote {runs} and {HERE / 'curves.png'}")


if __name__ == "__main__":
    main(sys.argv[1:])
