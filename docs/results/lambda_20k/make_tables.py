"""docs/results.md's λ study: MMD-VAE (and Stein-VAE) read by λ at latent 2, 5 and 10.

Latent 5 is the preset study's runs (binarized MNIST, MLP, 3 seeds; `mmd_presets/runs.csv`). Latent 2 and 10
are this study's own sweeps of the same command with `latent_dim` set, whose points `runs.csv` here holds; the
comparison's ELBO runs at those dimensions (`comparison_20k/runs.csv`) are their λ = 1 reference. Test NLL for
every dimension is `comparison_20k/nll.csv`'s. For each dimension, one row per (model, α, λ) with the weighted
batch divergence (α + λ − 1)·D next to the reconstruction (the paper's advice is to make the two comparable),
the order of the λ on each metric at 10,000, 15,000 and 20,000 batches (has it stopped moving?), latent 2's
slow arms at 40,000 batches, and a figure of the metrics against λ:

    python docs/results/lambda_20k/make_tables.py /work/exp/<sweep> ...   # adds latent 2/10 to runs.csv
    python docs/results/comparison_20k/nll.py --root ../shared/data <sweeps>
    python docs/results/lambda_20k/make_tables.py                         # from the committed files

`class_regions.py` here measures where the latent-2 arms lose the class match.
"""

from __future__ import annotations

import csv
import inspect
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent
sys.path.insert(0, str(RESULTS))
from sweep_points import cell, last_values, points, stored_points, with_kernel  # noqa: E402

from infovae_lightning.models.base import InfoVAE  # noqa: E402

STEPS = (5000, 20000)
ORDER_STEPS = (10000, 15000, 20000)
LATENTS = (2, 5, 10)
SEEDS = 3  # every arm's; a λ with fewer seeds at a step is not ranked there
LONGER = (2, 40000)  # latent 2's slow arms (α = 1 at λ = 1000, the IMQ kernel) run on to 40,000 batches
PRESET_LATENT = 5  # the preset study's dimension
METRICS = {  # metric: (column title, format)
    "val/recon": ("recon", "{:.1f}"),
    "val/active_units": ("active", "{:.1f}"),
    "val/class_dist_ce": ("class_dist_ce", "{:.3f}"),
    "val/semisup_acc_all": ("semi-sup. 8k", "{:.3f}"),
    "val/mmd_full": ("mmd_full", "{:.4f}"),
}
# Where q(z) sits, recorded for this study's own runs (latent 2 and 10; not in the preset study's runs.csv):
# a Gaussian kernel's MMD saturates for codes far from the prior, the covariance and the KL do not.
SPREAD = {"val/logdet_cov_per_dim": ("logdet/dim", "{:.2f}"), "val/kl": ("KL", "{:.1f}")}
LOWER_IS_BETTER = {"val/recon", "val/class_dist_ce", "val/mmd_full", "nll_is"}
FIGURE = ("val/recon", "val/class_dist_ce", "val/semisup_acc_all", "nll_is")
ARM = re.compile(r"(?P<model>\w+) α=(?P<alpha>[\d.]+) λ=(?P<lam>[\d.e+]+)$")  # no det, no warm-up
NLL_MODELS = {"MMDVAE": "MMD-VAE", "SteinVAE": "Stein-VAE", "ELBO": "ELBO"}
FIELDS = ["model", "alpha", "lam", "latent", "seed", "step", "metric", "value"]

STD_FLOOR = inspect.signature(InfoVAE).parameters["std_floor"].default  # the encoder's σ floor, by default

Key = tuple[str, float, float, int]  # model, α, λ, latent
# key → metric → seed → [(step, value)]
Series = dict[Key, dict[str, dict[int, list[tuple[int, float]]]]]


def key_of(config: dict) -> dict:
    """A job of this study's sweeps: plain arms only (a deterministic encoder or a λ warm-up is not one)."""
    model = config["model"]
    if model.get("deterministic") or model.get("lam_warmup_steps"):
        raise ValueError(f"not an arm of the λ study: {model}")
    name = model["_target_"].rpartition(".")[2]
    alpha, lam = (0.0, 1.0) if name == "ELBOVAE" else (float(model["alpha"]), float(model["lam"]))
    name = "ELBO" if name == "ELBOVAE" else name
    name = with_kernel(name, model.get("kernel"))
    floor = model.get("std_floor", STD_FLOOR)
    if floor != STD_FLOOR:  # a wider floor on q(z|x)'s σ than the encoder's default
        name += f" σ≥{floor:g}"
    return dict(model=name, alpha=alpha, lam=lam, latent=config["latent_dim"], seed=config["seed"])


def read_sweeps(sweeps: list[Path]) -> list[dict]:
    """Every (model, α, λ, latent, seed, step, metric, value) of the completed jobs under `sweeps`."""
    return points(sweeps, key_of, {*METRICS, *SPREAD, "val/div"})


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def series_of(presets: list[dict], own: list[dict], comparison: list[dict]) -> Series:
    """The preset study's arms at latent 5, this study's at the other dimensions, and the comparison's ELBO
    where neither has one."""
    series: Series = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))

    def add(key: Key, r: dict) -> None:
        series[key][r["metric"]][int(r["seed"])].append((int(r["step"]), float(r["value"])))

    for r in presets:
        if r["arm"] == "ELBO":
            add(("ELBO", 0.0, 1.0, PRESET_LATENT), r)
        elif m := ARM.match(r["arm"]):
            add((m["model"], float(m["alpha"]), float(m["lam"]), PRESET_LATENT), r)
    for r in own:
        add((r["model"], float(r["alpha"]), float(r["lam"]), int(r["latent"])), r)
    covered = {latent for model, _, _, latent in series if model == "ELBO"}
    for r in comparison:
        if r["model"] == "ELBO" and int(r["latent"]) not in covered:
            add(("ELBO", 0.0, 1.0, int(r["latent"])), r)
    return series


def read_nll(path: Path) -> dict[tuple[str, float, float, int, int], list[float]]:
    """Test −log p(x) with K = 1,000 per (model, α, λ, latent, batches), one value per seed."""
    out: dict[tuple[str, float, float, int, int], list[float]] = defaultdict(list)
    names = {v: k for k, v in NLL_MODELS.items()}
    for r in read_csv(path):
        if r["model"] in names and r["samples"] == "1000":
            key = (
                with_kernel(names[r["model"]], r["kernel"]),
                float(r["alpha"]),
                float(r["lam"]),
                int(r["latent"]),
                int(r["batches"]),
            )
            out[key].append(float(r["nll_is"]))
    return out


def at(by_seed: dict[int, list[tuple[int, float]]], step: int) -> list[float]:
    """Each seed's value at `step` batches (logged at step − 1), if its run went that far."""
    return last_values(by_seed, step - 1)


def values(series: Series, nll: dict, key: Key, metric: str, step: int) -> list[float]:
    return nll.get((*key, step), []) if metric == "nll_is" else at(series[key].get(metric, {}), step)


def weighted_divergence(series: Series, key: Key, step: int) -> list[float]:
    """(α + λ − 1)·D on validation batches: the divergence's share of the loss, against recon."""
    model, alpha, lam, _ = key
    if not model.startswith("MMDVAE"):
        return []
    return [(alpha + lam - 1) * d for d in at(series[key]["val/div"], step)]


def table(series: Series, nll: dict, step: int, latent: int) -> str:
    """One row per (model, α, λ) at `latent` dimensions and `step` batches, mean ± std over seeds."""
    metrics = METRICS if latent == PRESET_LATENT else METRICS | SPREAD
    head = ["model", "α", "λ", "seeds", *(t for t, _ in metrics.values()), "(α+λ−1)·MMD", "test NLL"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    keys = [k for k in series if k[3] == latent]
    for key in sorted(keys, key=lambda k: (k[0] != "ELBO", k[0], k[1], k[2])):
        seeds = len(at(series[key]["val/recon"], step))
        if not seeds:
            continue
        cells = [cell(at(series[key][m], step), form) for m, (_, form) in metrics.items()]
        cells.append(cell(weighted_divergence(series, key, step), "{:.2f}"))
        cells.append(cell(nll.get((*key, step), []), "{:.1f}"))
        model, alpha, lam, _ = key
        lines.append(f"| {model} | {alpha:g} | {lam:g} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def families(series: Series) -> dict[tuple[str, float, int], list[float]]:
    """(model, α, latent) → its λ, for the families with more than one λ."""
    lams: dict[tuple[str, float, int], list[float]] = defaultdict(list)
    for model, alpha, lam, latent in series:
        if model != "ELBO":
            lams[model, alpha, latent].append(lam)
    return {f: sorted(ls) for f, ls in sorted(lams.items()) if len(ls) > 1}


def order(series: Series, family: tuple[str, float, int], lams: list[float], metric: str, step: int) -> str:
    """The family's λ from best to worst on `metric` at `step` (mean over seeds), or — if a λ lacks seeds."""
    model, alpha, latent = family
    means = {}
    for lam in lams:
        v = at(series[model, alpha, lam, latent].get(metric, {}), step)
        if len(v) < SEEDS:
            return "—"
        means[lam] = statistics.fmean(v)
    ranked = sorted(lams, key=lambda lam: means[lam] if metric in LOWER_IS_BETTER else -means[lam])
    return ", ".join(f"{lam:g}" for lam in ranked)


def orders(series: Series) -> str:
    """Whether the ranking of λ stopped moving: each family's order on each metric at ORDER_STEPS."""
    head = ["model", "α", "latent", "metric", *(f"best → worst at {s:,}" for s in ORDER_STEPS)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for family, lams in families(series).items():
        model, alpha, latent = family
        for metric in METRICS:
            if metric == "val/active_units":
                continue
            cells = [order(series, family, lams, metric, s) for s in ORDER_STEPS]
            if set(cells) == {"—"}:
                continue  # a family not run that far (Stein-VAE's λ at 5,000 batches)
            lines.append(
                f"| {model} | {alpha:g} | {latent} | {METRICS[metric][0]} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines)


def figure(series: Series, nll: dict, path: Path) -> None:
    """A row of panels per latent dimension: each metric against λ at 5,000 (dashed) and 20,000 (solid)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latents = [d for d in LATENTS if any(k[3] == d for k in series)]
    fig, grid = plt.subplots(
        len(latents), len(FIGURE), figsize=(4 * len(FIGURE), 3.2 * len(latents)), squeeze=False
    )
    ranged = families(series)
    styles = {}
    for model, alpha, _ in ranged:
        styles.setdefault((model, alpha), f"C{len(styles)}")
    for axes, latent in zip(grid, latents, strict=True):
        for ax, metric in zip(axes, FIGURE, strict=True):
            for (model, alpha, d), lams in ranged.items():
                if d != latent:
                    continue
                for step, style in zip(STEPS, ("--", "-"), strict=True):
                    xs, ys, es = [], [], []
                    for lam in lams:
                        v = values(series, nll, (model, alpha, lam, latent), metric, step)
                        if v:
                            xs.append(lam)
                            ys.append(statistics.fmean(v))
                            es.append(statistics.stdev(v) if len(v) > 1 else 0.0)
                    if xs:
                        label = f"{model} α={alpha:g}, {step:,}"
                        ax.errorbar(
                            xs, ys, es, fmt="o" + style, color=styles[model, alpha], label=label, capsize=2
                        )
            elbo = ("ELBO", 0.0, 1.0, latent)
            if elbo in series and (v := values(series, nll, elbo, metric, STEPS[-1])):
                ax.axhline(statistics.fmean(v), color="k", lw=0.8, label=f"ELBO, {STEPS[-1]:,}")
            ax.set_xscale("log")
            ax.set_xlabel("λ")
            ax.set_title(f"latent {latent}: " + (metric if metric != "nll_is" else "test nll_is"), fontsize=9)
            if metric == "val/class_dist_ce":
                ax.set_yscale("log")
        axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def tables(series: Series, nll: dict) -> list[str]:
    """docs/results.md's tables in order: latent 5 at 5,000 and 20,000 batches, latent 2 and 10 at 20,000, the
    orders of λ, latent 2's arms that ran on to 40,000."""
    made = [table(series, nll, step, PRESET_LATENT) for step in STEPS]
    made += [table(series, nll, STEPS[-1], d) for d in LATENTS if d != PRESET_LATENT]
    latent, step = LONGER
    return [*made, orders(series), table(series, nll, step, latent)]


def committed(own: list[dict] | None = None) -> tuple[Series, dict]:
    """The series and test NLL from the committed CSVs (`own`: this study's rows, if just written)."""
    own = stored_points(HERE / "runs.csv", [], read_sweeps, FIELDS) if own is None else own
    presets = read_csv(RESULTS / "mmd_presets" / "runs.csv")
    series = series_of(presets, own, read_csv(RESULTS / "comparison_20k" / "runs.csv"))
    return series, read_nll(RESULTS / "comparison_20k" / "nll.csv")


def main(argv: list[str]) -> None:
    own = stored_points(HERE / "runs.csv", argv, read_sweeps, FIELDS)
    series, nll = committed(own)
    for made in tables(series, nll):
        print(f"\n{made}")
    figure(series, nll, HERE / "by_lambda.png")
    print(f"\nwrote {HERE / 'by_lambda.png'}")


if __name__ == "__main__":
    main(sys.argv[1:])
