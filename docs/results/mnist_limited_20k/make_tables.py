"""Tables and curves of docs/results.md's limited-data study (Figures 3–5): the ELBO against MMD-VAE by
training-set size, 3 seeds.

Each job is keyed by (model, training images, seed). The held-out metrics are the validation split's
(1,000 images) every 1,000 steps, so the tables at 5,000, 10,000 and 20,000 steps show whether the ranking
moves; the training reconstruction is the mean of the per-batch values logged over the last 500 steps before
a checkpoint (the overfitting gap is held-out recon − training recon). `curves.png` shows the metrics
against steps for 500, 8,000 and 50,000 images, `sizes.png` those at 20,000 steps against the training size.
`runs.csv` (committed) holds every point read, so the tables and the figures can be made again from it alone:

    python docs/results/mnist_limited_20k/make_tables.py /work/exp/<sweep> ...   # adds the sweeps to runs.csv
    python docs/results/mnist_limited_20k/make_tables.py                         # from runs.csv
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from sweep_points import cell, last_values, points, stored_points  # noqa: E402

MODELS = {"ELBOVAE": "ELBO", "MMDVAE": "MMD-VAE"}
ORDER = ["ELBO", "MMD-VAE"]  # then the other arms, labelled with what differs (kernel and λ, grey pixels)
DATA = ("binarized", "grey")  # a table and a figure each: their recon are different densities
FIGURES = {"binarized": "curves.png", "grey": "curves_grey.png"}
SIZE_FIGURES = {"binarized": "sizes.png", "grey": "sizes_grey.png"}  # drawn where 3 sizes reached SIZE_STEP
GREY = "grey"  # the label's word for grey pixels (a Gaussian decoder), which data_of reads back
METRICS = {  # metric: (column title, format)
    "train/recon": ("recon train", "{:.1f}"),
    "val/recon": ("recon held-out", "{:.1f}"),
    "val/mmd_full": ("mmd_full", "{:.4f}"),
    "val/logdet_cov_per_dim": ("logdet/dim", "{:.2f}"),
    "val/mi": ("MI", "{:.2f}"),
    "val/active_units": ("active", "{:.1f}"),
    "val/kl_full": ("KL", "{:.1f}"),
}
STEPS = (5000, 10000, 20000)
TRAIN_WINDOW = 500  # steps over which the logged per-batch training recon is averaged
CURVES = ("val/recon", "val/mmd_full", "val/logdet_cov_per_dim", "val/mi")
CURVE_SIZES = (500, 8000, 50000)  # the curves' training sizes (the others are in the tables and sizes.png)
STYLES = ("-", ":", "-.")  # the curves' training sizes but the largest (dashed), smallest first
SIZE_STEP = 20000  # sizes.png: each metric at this step against the training size
SIZE_PANELS = {  # sizes.png's panels: metric (or the overfitting gap) → title
    "val/recon": "held-out recon",
    "gap": "held-out − training recon",
    "val/mmd_full": "mmd_full (log)",
    "val/logdet_cov_per_dim": "logdet Cov[q(z)] / dim",
}

# (model, training images, metric) → seed → [(step, value)]
Series = dict[tuple[str, int, str], dict[int, list[tuple[int, float]]]]


def label_of(config: dict) -> str:
    """A job's arm as the tables name it: the model, then what differs (kernel and λ, encoder, warm-up, grey
    pixels and σ, weight decay)."""
    from infovae_lightning.data import natural_likelihood
    from infovae_lightning.models.base import FREEZABLE

    model, data = config["model"], config["data"]
    label = [MODELS[model["_target_"].rpartition(".")[2]]]
    if model.get("kernel", "gaussian") != "gaussian":
        label.append(f"{model['kernel']}, λ = {model['lam']:g}")
    if model.get("deterministic"):
        label.append("deterministic encoder")
    if model.get("lam_warmup_steps"):
        label.append(f"λ warm-up {model['lam_warmup_steps']:,}")
    if natural_likelihood(data["name"], data.get("binarize", "none")) == "gaussian":
        sigma = "learned σ" if model["likelihood"].get("learn_sigma") else "fixed σ"
        label.append(f"{GREY}, {sigma}")
    if model.get("weight_decay"):
        nets = model.get("weight_decay_nets", list(FREEZABLE))  # FREEZABLE: the default, both
        only = f" ({nets[0]} only)" if len(nets) == 1 else ""
        label.append(f"weight decay {model['weight_decay']:g}{only}")
    return ", ".join(label)


def read_sweeps(sweeps: list[Path]) -> list[dict]:
    def key_of(config: dict) -> dict:
        return dict(model=label_of(config), size=config["data"]["train_size"], seed=config["seed"])

    def used(row: dict) -> bool:  # the per-batch training recon only where a table averages it
        return row["metric"] != "train/recon" or any(s - TRAIN_WINDOW <= row["step"] < s for s in STEPS)

    return [r for r in points(sweeps, key_of, METRICS) if used(r)]


def series_of(rows: list[dict]) -> Series:
    series: Series = defaultdict(lambda: defaultdict(list))
    for r in rows:
        point = (int(r["step"]), float(r["value"]))
        series[r["model"], int(r["size"]), r["metric"]][int(r["seed"])].append(point)
    return series


def seed_values(series: Series, model: str, size: int, metric: str, step: int) -> dict[int, float]:
    """Each seed's value at `step` steps (logged at step − 1); for the training recon, its window mean."""
    out = {}
    for seed, logged in series[model, size, metric].items():
        if metric != "train/recon":
            value = last_values({seed: logged}, step - 1)
            if value:
                out[seed] = value[0]
            continue
        window = [v for s, v in logged if step - TRAIN_WINDOW <= s < step]
        if window and max(s for s, _ in logged) >= step - 10:
            out[seed] = statistics.fmean(window)
    return out


def values_at(series: Series, model: str, size: int, metric: str, step: int) -> list[float]:
    """`seed_values`' values, one per seed that has one."""
    return list(seed_values(series, model, size, metric, step).values())


def rank(model: str) -> tuple[int, str]:
    return (ORDER.index(model), "") if model in ORDER else (len(ORDER), model)


def data_of(model: str) -> str:
    return "grey" if f", {GREY}, " in model else "binarized"


def groups(series: Series, data: str = "binarized") -> list[tuple[str, int]]:
    found = {(m, n) for m, n, _ in series if data_of(m) == data}
    return sorted(found, key=lambda g: (g[1], rank(g[0])))


def table(series: Series, step: int, data: str = "binarized") -> str:
    head = ["train images", "model", "seeds", *(title for title, _ in METRICS.values())]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for model, size in groups(series, data):
        seeds = len(values_at(series, model, size, "val/recon", step))
        if seeds:
            cells = [cell(values_at(series, model, size, m, step), f) for m, (_, f) in METRICS.items()]
            lines.append(f"| {size:,} | {model} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tables(series: Series) -> list[tuple[str, int, str]]:
    """(data, step, table) for each kind of pixels and each step of STEPS that some run reached."""
    made = [(data, step, table(series, step, data)) for data in DATA for step in STEPS]
    return [(data, step, t) for data, step, t in made if t.count("\n") >= 2]


def figure(series: Series, path: Path, data: str = "binarized") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(CURVES), figsize=(4 * len(CURVES), 3.2))
    shown = [(m, n) for m, n in groups(series, data) if n in CURVE_SIZES]
    models = sorted({m for m, _ in shown}, key=rank)  # a colour a model, in every panel
    sizes = sorted({n for _, n in shown})  # a line style a size
    for ax, metric in zip(axes, CURVES, strict=True):
        for model, size in shown:
            by_seed = series[model, size, metric]
            steps = sorted(set.intersection(*(set(dict(p)) for p in by_seed.values()))) if by_seed else []
            if not steps:
                continue
            values = np.array([[dict(p)[s] for s in steps] for p in by_seed.values()])
            mean, std = values.mean(0), values.std(0)
            color, style = f"C{models.index(model)}", "--" if size == sizes[-1] else STYLES[sizes.index(size)]
            ax.plot(steps, mean, style, color=color, label=f"{model}, {size:,} images (n={len(values)})")
            ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.15)
        ax.set_title(metric)
        ax.set_xlabel("steps")
        if metric == "val/mmd_full":
            ax.set_yscale("log")
    # The legend below the panels, two columns: inside one it hid the curves once there were many arms.
    handles, labels = axes[0].get_legend_handles_labels()
    legend_height = 0.16 * -(-len(labels) // 2)  # inches, a line for two entries
    fig.set_size_inches(4 * len(CURVES), 3.2 + legend_height)
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, legend_height / (3.2 + legend_height), 1, 1))
    fig.savefig(path, dpi=80)


def size_points(series: Series, data: str, step: int = SIZE_STEP) -> dict[str, dict[str, list[tuple]]]:
    """panel → model → [(training images, mean, std)] at `step`, for the models run at three sizes or more
    (fewer make no trend)."""
    out: dict[str, dict[str, list[tuple]]] = {panel: defaultdict(list) for panel in SIZE_PANELS}
    for model, size in groups(series, data):
        held_out = seed_values(series, model, size, "val/recon", step)
        train = seed_values(series, model, size, "train/recon", step)
        for panel in SIZE_PANELS:
            if panel == "gap":
                values = [held_out[seed] - train[seed] for seed in held_out if seed in train]
            else:
                values = values_at(series, model, size, panel, step)
            if values:
                std = statistics.stdev(values) if len(values) > 1 else 0.0
                out[panel][model].append((size, statistics.fmean(values), std))
    return {p: {m: pts for m, pts in by_model.items() if len(pts) >= 3} for p, by_model in out.items()}


def size_figure(series: Series, path: Path, data: str = "binarized") -> bool:
    """The metrics at SIZE_STEP against the training size (log axis), mean ± std over seeds; False if no
    model reached that step at three sizes."""
    panels = size_points(series, data)
    if not any(panels.values()):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SIZE_PANELS), figsize=(4 * len(SIZE_PANELS), 3.2))
    models = sorted({m for by_model in panels.values() for m in by_model}, key=rank)
    ticks = sorted({pt[0] for by_model in panels.values() for pts in by_model.values() for pt in pts})
    for ax, (panel, title) in zip(axes, SIZE_PANELS.items(), strict=True):
        for model, pts in panels[panel].items():
            sizes, means, stds = zip(*pts, strict=True)
            ax.errorbar(
                sizes, means, yerr=stds, marker="o", capsize=3, color=f"C{models.index(model)}", label=model
            )
        ax.set_xscale("log")
        ax.set_xticks(ticks, [f"{n:,}" for n in ticks])  # the sizes run, not log ticks that overlap
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)  # 5,000 and 8,000 sit close
        ax.set_title(title)
        ax.set_xlabel("training images")
        if panel == "val/mmd_full":
            ax.set_yscale("log")
    axes[0].legend(fontsize=6)
    fig.suptitle(f"at {SIZE_STEP:,} steps", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return True


def main(argv: list[str]) -> None:
    runs = HERE / "runs.csv"
    rows = stored_points(runs, argv, read_sweeps, ["model", "size", "seed", "step", "metric", "value"])
    series = series_of(rows)
    for data, step, made in tables(series):
        print(f"\n### {data}, {step:,} steps\n\n{made}")
    for data in DATA:
        if groups(series, data):
            figure(series, HERE / FIGURES[data], data)
            print(f"wrote {HERE / FIGURES[data]}")
            sizes = HERE / SIZE_FIGURES[data]
            if size_figure(series, sizes, data):
                print(f"wrote {sizes}")
    print(f"wrote {runs}")


if __name__ == "__main__":
    main(sys.argv[1:])
