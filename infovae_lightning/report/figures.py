"""The report's PNG figures: metric curves over training steps, one line per group; final metrics against each
numeric swept key (training-set size, λ, latent dimension), one line per setting of the other keys; and
Figure 1 of the paper for each toy job.

Figures are drawn with matplotlib's object API on the Agg canvas, never through pyplot: making a report
changes no interactive backend (in a notebook) and needs no display.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from infovae_lightning.report.collect import FAILED, MISSING, UNREADABLE, read_history
from infovae_lightning.report.tables import Group, natural_key
from infovae_lightning.report.toy import TOY_POINTS, ToyAnalysis

DPI = 100
# Curves drawn when the runs logged them, in this order (the paper's quantities that are tracked in fit).
CURVE_METRICS = (
    "val/loss",
    "val/mmd_full",
    "val/nll_is",
    "val/logdet_cov_per_dim",
    "val/kl_full",
    "val/kl",
    "val/mi",
    "val/recon",
    "val/div",
    "train/loss",
)


def save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def curve_file(metric: str) -> str:
    return "curve_" + metric.replace("/", "_") + ".png"


History = dict[str, list[tuple[int, float]]]


def group_curve(
    group: Group, metric: str, histories: dict[int, History]
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Steps, mean and sample std over the group's jobs of `metric` at each step any job logged it.

    Jobs that ended early contribute the steps they reached; where one job alone has a step the std is 0.
    Failed jobs are left out, as in the tables; interrupted ones are kept (their curve is real).
    """
    by_step: dict[int, list[float]] = {}
    for job in group.jobs:
        if job.status in (FAILED, MISSING, UNREADABLE):
            continue
        for step, value in histories.get(job.num, {}).get(metric, []):
            by_step.setdefault(step, []).append(value)
    if not by_step:
        return None
    steps = np.array(sorted(by_step))
    values = [np.array(by_step[s]) for s in steps]
    mean = np.array([v.mean() for v in values])
    std = np.array([v.std(ddof=1) if len(v) > 1 else 0.0 for v in values])
    return steps, mean, std


def curves(
    groups: Sequence[Group], keys: Sequence[str], out: Path, histories: dict[int, History] | None = None
) -> dict[str, Path]:
    """One figure per metric of `CURVE_METRICS` that some job logged: the mean over seeds of each group, with
    a ±1 std band where the group has several seeds. `histories` (job number -> metric -> points) default to
    the jobs' csv/metrics.csv; a report folder keeps them in curves.csv."""
    if histories is None:
        histories = {job.num: read_history(job) for group in groups for job in group.jobs}
    written = {}
    for metric in CURVE_METRICS:
        lines = [(group, group_curve(group, metric, histories)) for group in groups]
        lines = [(group, curve) for group, curve in lines if curve is not None]
        if not lines:
            continue
        figure = Figure(figsize=(6.4, 4.0))
        ax = figure.add_subplot()
        if len(lines) > 10:  # the default cycle has 10 colours: two groups would share one
            ax.set_prop_cycle(color=colormaps["tab20"].colors)
        for group, (steps, mean, std) in lines:
            label = ", ".join(f"{k}={v}" for k, v in zip(keys, group.values, strict=True))
            seeds = len(group.completed) or len(group.jobs)
            label += f" (n={seeds})" if seeds > 1 else ""
            (line,) = ax.plot(steps, mean, marker="o" if len(steps) < 20 else None, markersize=3, label=label)
            if std.any():
                ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        means = np.concatenate([mean for _, (_, mean, _) in lines])
        if (means > 0).all() and means.max() / means.min() >= 100:
            ax.set_yscale("log")  # an MMD falls by orders of magnitude: on a linear axis the end is flat
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} over training (mean ± std over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        written[metric] = save(figure, out / curve_file(metric))
    return written


# Final metrics drawn against a numeric swept key, when the jobs have them: the paper's Figures 4-6 and the λ
# study. The split is the report's headline one (test when the sweep tested).
TREND_METRICS = (
    "nll_is",
    "mmd_full",
    "logdet_cov_per_dim",
    "class_dist_ce",
    "semisup_acc_100",
    "semisup_acc_all",
    "mi",
    "active_units",
    "recon",
    "div",
)


def trend_file(key: str, metric: str) -> str:
    return f"vs_{key.replace('.', '_')}_{metric.replace('/', '_')}.png"


def numeric_keys(groups: Sequence[Group], keys: Sequence[str]) -> list[str]:
    """Grouping keys with at least 3 distinct values, all numbers: the ones a line over them can show."""
    found = []
    for i, key in enumerate(keys):
        values = {group.values[i] for group in groups}
        if len(values) >= 3 and all(natural_key(v)[0] == 0 for v in values):
            found.append(key)
    return found


def trend_lines(
    groups: Sequence[Group], at: int, metric: str
) -> dict[tuple[str, ...], list[tuple[float, float, float]]]:
    """The points (key value, mean, std) of `metric` against the grouping key at index `at`, one line per
    setting of the other keys, in the key's order; groups without the metric are left out."""
    lines: dict[tuple[str, ...], list[tuple[float, float, float]]] = {}
    for group in groups:
        stat = group.stat(metric)
        if stat is not None:
            others = group.values[:at] + group.values[at + 1 :]
            lines.setdefault(others, []).append((float(group.values[at]), stat.mean, stat.std or 0.0))
    return {others: sorted(points) for others, points in lines.items()}


def trends(groups: Sequence[Group], keys: Sequence[str], split: str, out: Path) -> dict[str, dict[str, Path]]:
    """For each numeric key, one figure per metric of `TREND_METRICS` (at `split`): its final value against
    the key, one line per setting of the other keys, mean ± std over seeds as error bars. Keyed by
    key, then metric."""
    written: dict[str, dict[str, Path]] = {}
    for key in numeric_keys(groups, keys):
        at = keys.index(key)
        for base in TREND_METRICS:
            metric = f"{split}/{base}"
            lines = trend_lines(groups, at, metric)
            if not lines:
                continue
            figure = Figure(figsize=(6.4, 4.0))
            ax = figure.add_subplot()
            other_keys = [k for k in keys if k != key]
            for others, points in lines.items():
                x, mean, std = (np.array(v) for v in zip(*points, strict=True))
                label = ", ".join(f"{k}={v}" for k, v in zip(other_keys, others, strict=True))
                ax.errorbar(
                    x, mean, yerr=std if std.any() else None, marker="o", markersize=4, capsize=3, label=label
                )
            xs = [float(group.values[at]) for group in groups]
            if min(xs) > 0 and max(xs) / min(xs) >= 10:
                ax.set_xscale("log")
            ax.set_xlabel(key)
            ax.set_ylabel(metric)
            ax.set_title(f"final {metric} against {key}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
            written.setdefault(key, {})[metric] = save(figure, out / trend_file(key, metric))
    return written


def _histogram(ax, values: np.ndarray, label: str, color: str, edges: np.ndarray) -> None:
    values = values[np.isfinite(values)]
    ax.hist(values, bins=edges, density=True, histtype="step", linewidth=1.5, color=color, label=label)


def _edges(*arrays: np.ndarray, bins: int = 80) -> np.ndarray:
    """Shared bin edges over the 0.1-99.9 percentiles, so one far sample does not squash the histogram and
    a posterior collapsed to a spike still gets a bin of its own."""
    values = np.concatenate(arrays)
    values = values[np.isfinite(values)]
    if values.size == 0:  # a diverged model: empty panels rather than no report
        return np.linspace(-1, 1, bins + 1)
    low, high = np.percentile(values, [0.1, 99.9])
    if not high - low > 1e-6:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def toy_figure(analysis: ToyAnalysis, title: str, path: Path) -> Path:
    """Figure 1: left, q(z|x=-1), q(z|x=+1) and p(z); right, x ~ p(x|z) for z drawn from each of them."""
    colors = {TOY_POINTS[0]: "tab:green", TOY_POINTS[1]: "tab:red"}
    figure = Figure(figsize=(10, 3.8))
    left, right = figure.subplots(1, 2)
    edges = _edges(analysis.z_prior, *analysis.z_given_x.values())
    for x, z in analysis.z_given_x.items():
        _histogram(left, z, f"q(z|x={x:+g})", colors[x], edges)
    grid = np.linspace(edges[0], edges[-1], 400)
    left.plot(
        grid, np.exp(-0.5 * grid**2) / math.sqrt(2 * math.pi), color="tab:purple", label="p(z) = N(0, 1)"
    )
    left.set_xlabel("z")
    left.set_ylabel("density")
    left.set_title(f"posteriors and prior (Var q(z) = {analysis.var_qz:.3g})")
    left.legend(fontsize="small")
    edges = _edges(analysis.x_from_prior, *analysis.x_from_posterior.values())
    for x, samples in analysis.x_from_posterior.items():
        _histogram(right, samples, f"z ~ q(z|x={x:+g})", colors[x], edges)
    _histogram(right, analysis.x_from_prior, "z ~ p(z)", "tab:purple", edges)
    for x in TOY_POINTS:
        right.axvline(x, color="grey", linestyle=":", linewidth=1)
    right.set_xlabel("x")
    right.set_title("p(x|z): x sampled given z from ...")
    right.legend(fontsize="small")
    figure.suptitle(title)
    return save(figure, path)
