"""docs/results.md's λ study at latent 5: every arm of the preset study, read by λ.

The runs are the preset study's (binarized MNIST, MLP, latent 5, 3 seeds): its `runs.csv` holds their points
and `comparison_20k/nll.csv` their test NLL, so this script reads those two committed files only. For each
model and α, one row per λ at 5,000 and at 20,000 batches, with the weighted batch divergence
(α + λ − 1)·D next to the reconstruction (the paper's advice is to make the two comparable), and a figure of
the final metrics against λ:

    python docs/results/mmd_presets/make_tables.py <sweeps>   # first, when there are new runs
    python docs/results/comparison_20k/nll.py --root ../shared/data <sweeps>
    python docs/results/lambda_20k/make_tables.py
"""

from __future__ import annotations

import csv
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent
sys.path.insert(0, str(RESULTS))
from sweep_points import cell, last_values  # noqa: E402

STEPS = (5000, 20000)
METRICS = {  # metric: (column title, format)
    "val/recon": ("recon", "{:.1f}"),
    "val/active_units": ("active", "{:.1f}"),
    "val/class_dist_ce": ("class_dist_ce", "{:.3f}"),
    "val/semisup_acc_all": ("semi-sup. 8k", "{:.3f}"),
    "val/mmd_full": ("mmd_full", "{:.4f}"),
}
FIGURE = ("val/recon", "val/class_dist_ce", "val/semisup_acc_all", "nll_is")
ARM = re.compile(r"(?P<model>\w+) α=(?P<alpha>[\d.]+) λ=(?P<lam>[\d.e+]+)$")  # no det, no warm-up
NLL_MODELS = {"MMDVAE": "MMD-VAE", "SteinVAE": "Stein-VAE", "ELBO": "ELBO"}

# (model, α, λ) → metric → seed → [(step, value)]
Series = dict[tuple[str, float, float], dict[str, dict[int, list[tuple[int, float]]]]]


def read_runs(path: Path) -> Series:
    """The preset study's points, for the ELBO (λ = 1) and the arms that differ only in α and λ."""
    series: Series = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            if r["arm"] == "ELBO":
                key = ("ELBO", 0.0, 1.0)
            elif m := ARM.match(r["arm"]):
                key = (m["model"], float(m["alpha"]), float(m["lam"]))
            else:
                continue
            series[key][r["metric"]][int(r["seed"])].append((int(r["step"]), float(r["value"])))
    return series


def read_nll(path: Path) -> dict[tuple[str, float, float, int], list[float]]:
    """Test −log p(x) per (model, α, λ, batches), latent 5, one value per seed."""
    out: dict[tuple[str, float, float, int], list[float]] = defaultdict(list)
    names = {v: k for k, v in NLL_MODELS.items()}
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            if r["latent"] == "5" and r["model"] in names:
                key = (names[r["model"]], float(r["alpha"]), float(r["lam"]), int(r["batches"]))
                out[key].append(float(r["nll_is"]))
    return out


def at(by_seed: dict[int, list[tuple[int, float]]], step: int) -> list[float]:
    """Each seed's value at `step` batches (logged at step − 1), if its run went that far."""
    return last_values(by_seed, step - 1)


def weighted_divergence(series: Series, key: tuple[str, float, float], step: int) -> list[float]:
    """(α + λ − 1)·D on validation batches: the divergence's share of the loss, against recon."""
    model, alpha, lam = key
    return [(alpha + lam - 1) * d for d in at(series[key]["val/div"], step)] if model == "MMDVAE" else []


def table(series: Series, nll: dict, step: int) -> str:
    head = ["model", "α", "λ", "seeds", *(t for t, _ in METRICS.values()), "(α+λ−1)·MMD", "test NLL"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for key in sorted(series, key=lambda k: (k[0] != "ELBO", k[0], k[1], k[2])):
        seeds = len(at(series[key]["val/recon"], step))
        if not seeds:
            continue
        cells = [cell(at(series[key][m], step), form) for m, (_, form) in METRICS.items()]
        cells.append(cell(weighted_divergence(series, key, step), "{:.2f}"))
        cells.append(cell(nll.get((*key, step), []), "{:.1f}"))
        model, alpha, lam = key
        lines.append(f"| {model} | {alpha:g} | {lam:g} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(series: Series, nll: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(FIGURE), figsize=(4 * len(FIGURE), 3.4))
    families = sorted({(m, a) for m, a, _ in series if m != "ELBO"})
    for ax, metric in zip(axes, FIGURE, strict=True):
        for i, (model, alpha) in enumerate(families):
            for step, style in zip(STEPS, ("--", "-"), strict=True):
                xs, ys, es = [], [], []
                for lam in sorted(lam for m, a, lam in series if (m, a) == (model, alpha)):
                    key = (model, alpha, lam)
                    v = nll.get((*key, step), []) if metric == "nll_is" else at(series[key][metric], step)
                    if v:
                        xs.append(lam)
                        ys.append(statistics.fmean(v))
                        es.append(statistics.stdev(v) if len(v) > 1 else 0.0)
                if xs:
                    label = f"{model} α={alpha:g}, {step:,}"
                    ax.errorbar(xs, ys, es, fmt="o" + style, color=f"C{i}", label=label, capsize=2)
        elbo = nll.get(("ELBO", 0.0, 1.0, STEPS[-1]), []) if metric == "nll_is" else []
        elbo = elbo or at(series["ELBO", 0.0, 1.0].get(metric, {}), STEPS[-1])
        if elbo:
            ax.axhline(statistics.fmean(elbo), color="k", lw=0.8, label=f"ELBO, {STEPS[-1]:,}")
        ax.set_xscale("log")
        ax.set_xlabel("λ")
        ax.set_title(metric if metric != "nll_is" else "test nll_is")
        if metric == "val/class_dist_ce":
            ax.set_yscale("log")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> None:
    series = read_runs(RESULTS / "mmd_presets" / "runs.csv")
    nll = read_nll(RESULTS / "comparison_20k" / "nll.csv")
    for step in STEPS:
        print(f"\n### {step:,} batches\n\n{table(series, nll, step)}")
    figure(series, nll, HERE / "by_lambda.png")
    print(f"\nwrote {HERE / 'by_lambda.png'}")


if __name__ == "__main__":
    main()
