"""Tables and curves of docs/results.md's model comparison at 20,000 batches, from several sweeps' jobs.

Each job is put in a group (model, latent dimension) and its seed pooled with the group's other seeds. Steps
are training batches, as the loggers count them (the AAE's `trainer.max_steps` counts both players' optimizer
steps, so its runs were given twice the steps for the same batches). A metric's value at step S is the last
one logged at or before S. `runs.csv` (committed) holds every point read, so the tables and the figure can be
made again from it alone:

    python docs/results/comparison_20k/make_tables.py /work/exp/<sweep> ...   # adds the sweeps to runs.csv
    python docs/results/comparison_20k/make_tables.py                         # from runs.csv
"""

from __future__ import annotations

import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from sweep_points import cell, last_values, stored_points, with_kernel  # noqa: E402

MODELS = {"ELBOVAE": "ELBO", "AdversarialAE": "AAE", "SteinVAE": "Stein-VAE", "MMDVAE": "MMD-VAE"}
METRICS = {  # metric: (column title, format)
    "val/recon": ("recon", "{:.1f}"),
    "val/active_units": ("active", "{:.1f}"),
    "val/class_dist_ce": ("class_dist_ce", "{:.3f}"),
    "val/semisup_acc_100": ("semi-sup. 100", "{:.3f}"),
    "val/semisup_acc_all": ("semi-sup. 8k", "{:.3f}"),
    "val/mmd_full": ("mmd_full", "{:.4f}"),
    "val/logdet_cov_per_dim": ("logdet/dim", "{:.3f}"),
    "val/kl": ("KL", "{:.1f}"),
}
# Ranked at each checkpoint:
RANKED = ("val/recon", "val/class_dist_ce", "val/semisup_acc_all", "val/mmd_full")
HIGHER_IS_BETTER = {"val/semisup_acc_all", "val/semisup_acc_100", "val/active_units"}
CHECKPOINTS = (5000, 10000, 15000, 20000)
CURVES = ("val/recon", "val/mmd_full", "val/logdet_cov_per_dim", "val/class_dist_ce")

# (model, latent, metric) → seed → [(step, value)]
Series = dict[tuple[str, int, str], dict[int, list[tuple[int, float]]]]


def model_of(config: dict) -> str:
    return MODELS[config["model"]["_target_"].rpartition(".")[2]]


def read_sweeps(sweeps: list[Path]) -> list[dict]:
    """Every (model, latent, seed, step, metric, value) of the completed jobs under `sweeps`."""
    from sweep_points import points

    def key_of(config: dict) -> dict:
        return dict(model=model_of(config), latent=config["latent_dim"], seed=config["seed"])

    return points(sweeps, key_of, METRICS)


def series_of(rows: list[dict]) -> Series:
    series: Series = defaultdict(lambda: defaultdict(list))
    for r in rows:
        point = (int(r["step"]), float(r["value"]))
        series[r["model"], int(r["latent"]), r["metric"]][int(r["seed"])].append(point)
    return series


def values_at(series: Series, model: str, latent: int, metric: str, step: int) -> list[float]:
    """Each seed's last value at or before `step` (batches 0-based: validation runs at 499, 999, ...)."""
    return last_values(series[model, latent, metric], step)


def groups(series: Series) -> list[tuple[str, int]]:
    order = list(MODELS.values())
    return sorted({(m, lat) for m, lat, _ in series}, key=lambda g: (g[1], order.index(g[0])))


def table(series: Series, step: int) -> str:
    head = ["model", "latent", "seeds", *(title for title, _ in METRICS.values())]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for model, latent in groups(series):
        seeds = len(values_at(series, model, latent, "val/recon", step))
        if not seeds:
            continue
        cells = [cell(values_at(series, model, latent, m, step), form) for m, (_, form) in METRICS.items()]
        lines.append(f"| {model} | {latent} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table_steps(series: Series) -> list[int]:
    """The batches (0-based) of the tables: 5,000 and 20,000, then each 10,000 more that some run reached
    (a model run on past 20,000 to see whether it converges; the others' rows stop at 20,000)."""
    last = max(s for by_seed in series.values() for logged in by_seed.values() for s, _ in logged)
    return [4999, 19999, *range(29999, last + 1, 10000)]


def ranking(ranked: list[str], values: dict[str, list[float]]) -> str:
    """`A > B` where the gap between the seeds' means exceeds both models' std, `A ≈ B` where it does not."""
    spread = {m: statistics.stdev(v) if len(v) > 1 else 0.0 for m, v in values.items()}
    out = ranked[0]
    for a, b in zip(ranked, ranked[1:], strict=False):
        gap = abs(statistics.fmean(values[a]) - statistics.fmean(values[b]))
        out += (" > " if gap > max(spread[a], spread[b]) else " ≈ ") + b
    return out


def rankings(series: Series) -> str:
    """Per latent dimension and metric, the models from best to worst by their seeds' mean at each
    checkpoint (≈: within a standard deviation): whether the ranking has stopped moving."""
    head = ["latent", "metric", *(f"{s:,}" for s in CHECKPOINTS)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for latent in sorted({lat for _, lat in groups(series)}):
        models = [m for m, lat in groups(series) if lat == latent]
        for metric in RANKED:
            cells = []
            for step in CHECKPOINTS:
                means = {m: v for m in models if (v := values_at(series, m, latent, metric, step - 1))}
                best_first = metric in HIGHER_IS_BETTER
                ranked = sorted(means, key=lambda m: statistics.fmean(means[m]), reverse=best_first)
                cells.append(ranking(ranked, means) if len(ranked) == len(models) else "—")
            lines.append(f"| {latent} | {METRICS[metric][0]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(series: Series, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    latents = sorted({lat for _, lat in groups(series)})
    size = (4 * len(CURVES), 3.2 * len(latents))
    fig, axes = plt.subplots(len(latents), len(CURVES), figsize=size, squeeze=False)
    for row, latent in zip(axes, latents, strict=True):
        for ax, metric in zip(row, CURVES, strict=True):
            for model, lat in groups(series):
                by_seed = series[model, lat, metric] if lat == latent else {}
                steps = sorted(set.intersection(*(set(dict(p)) for p in by_seed.values()))) if by_seed else []
                if not steps:
                    continue
                values = np.array([[dict(p)[s] for s in steps] for p in by_seed.values()])
                mean, std = values.mean(0), values.std(0)
                color = f"C{list(MODELS.values()).index(model)}"  # one colour per model in every panel
                ax.plot(steps, mean, color=color, label=f"{model} (n={len(values)})")
                ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2)
            ax.set_title(f"{metric}, latent {latent}")
            ax.set_xlabel("batches")
            if metric in ("val/class_dist_ce", "val/mmd_full"):
                ax.set_yscale("log")
        row[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def nll_table(path: Path) -> str:
    """Mean ± std over seeds of `nll.py`'s importance-sampled −log p(x) and −ELBO, by model, α, λ, latent."""
    by_group: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            group = (r["model"], r["kernel"], r["alpha"], r["lam"], r["latent"], r["batches"], r["examples"])
            by_group[(*group, r["samples"])] += [r]
    head = ["model", "α", "λ", "latent", "batches", "test images", "K", "seeds", "nll_is", "−ELBO", "gap"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    order = list(MODELS.values())

    def sort_key(g: tuple[str, ...]) -> tuple:
        model, kernel, alpha, lam, latent, steps, n, k = g
        return int(latent), order.index(model), kernel, float(alpha), float(lam), int(steps), int(n), int(k)

    for (model, kernel, alpha, lam, latent, steps, n, k), rows in sorted(
        by_group.items(), key=lambda i: sort_key(i[0])
    ):
        nll, bound = ([float(r[key]) for r in rows] for key in ("nll_is", "neg_elbo"))
        gap = [b - n for b, n in zip(bound, nll, strict=True)]
        cells = [cell(v, "{:.1f}") for v in (nll, bound, gap)]
        key = [
            with_kernel(model, kernel),
            f"{float(alpha):g}",
            f"{float(lam):g}",
            latent,
            f"{int(steps):,}",
            f"{int(n):,}",
            k,
        ]
        key.append(str(len(rows)))
        lines.append("| " + " | ".join(key + cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    runs = HERE / "runs.csv"
    rows = stored_points(runs, argv, read_sweeps, ["model", "latent", "seed", "step", "metric", "value"])
    series = series_of(rows)
    for step in table_steps(series):
        print(f"\n### {step + 1:,} batches\n\n{table(series, step)}")
    print(f"\n### Ranking (best first) at each checkpoint\n\n{rankings(series)}")
    if (HERE / "nll.csv").is_file():
        print(f"\n### Test −log p(x) (nll.py)\n\n{nll_table(HERE / 'nll.csv')}")
    figure(series, HERE / "curves.png")
    print(f"\nwrote {runs} and {HERE / 'curves.png'}")


if __name__ == "__main__":
    main(sys.argv[1:])
