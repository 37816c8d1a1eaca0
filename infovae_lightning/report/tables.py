"""Grouping jobs and summarising their metrics: which parameters a sweep varied, one group per combination of
them (seeds pooled), mean ± std over the group's completed jobs, and the two CSV files.

The grouping keys come from the jobs' overrides, not from a fixed list, so a λ sweep is grouped by λ, a
models × latent_dim sweep by both, without the report knowing the sweep: a key is swept when its value
differs between jobs. Model and latent dimension always group (the paper's tables are by both); `seed` never
does, it is what the statistics run over.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from infovae_lightning.report.collect import Job

ALWAYS_GROUPED = ("model", "latent_dim")
SEED = "seed"
# The paper's metrics first (Zhao et al., Tables 1-2 and Figures 3-5), then the loss terms; anything else a
# run logged comes after them, by name.
PAPER_ORDER = (
    "nll_is",
    "mmd_full",
    "logdet_cov_per_dim",
    "class_dist_ce",
    "class_dist_empty",
    "semisup_acc_",  # every budget: semisup_acc_100, semisup_acc_1000, semisup_acc_all
    "kl_full",
    "mi",
    "active_units",
    "var_qz",  # the toy problem's Var q(z), computed by the report (toy.py)
    "loss",
    "recon",
    "kl",
    "div",
)
SPLIT_ORDER = ("test", "val", "toy", "train")


def metric_sort_key(name: str) -> tuple[int, int, str]:
    split, _, base = name.rpartition("/")
    split_rank = SPLIT_ORDER.index(split) if split in SPLIT_ORDER else len(SPLIT_ORDER)
    paper_rank = next(
        (
            i
            for i, key in enumerate(PAPER_ORDER)
            if base == key or (key.endswith("_") and base.startswith(key))
        ),
        len(PAPER_ORDER),
    )
    return split_rank, paper_rank, name


def metric_names(jobs: Iterable[Job]) -> list[str]:
    """Every metric any job has, the paper's first within each split (test, val, toy, train, others)."""
    return sorted({key for job in jobs for key in job.metrics}, key=metric_sort_key)


def split_of(metric: str) -> str:
    return metric.rpartition("/")[0] or "other"


def swept_keys(jobs: Sequence[Job]) -> list[str]:
    """Override keys whose value differs between jobs (in the order they were given); a key only some jobs
    override counts as swept. Hydra's own settings (`hydra.*`) never do."""
    values: dict[str, set[str | None]] = {}
    for job in jobs:
        for key in job.override_values():
            values.setdefault(key, set())
    for job in jobs:
        given = job.override_values()
        for key in values:
            values[key].add(given.get(key))
    return [key for key, seen in values.items() if len(seen) > 1 and not key.startswith("hydra.")]


def group_keys(jobs: Sequence[Job]) -> list[str]:
    """Model, latent dimension, then every other swept key except the seed."""
    return [*ALWAYS_GROUPED, *(key for key in swept_keys(jobs) if key not in (*ALWAYS_GROUPED, SEED))]


def group_value(job: Job, key: str) -> str:
    if key == "model":
        return job.model_name
    if key == "latent_dim":
        return job.latent_dim
    value = job.override_values().get(key)
    if value is None:  # not overridden in this job: the value its config resolved to
        value = job.config_value(key)
    return "—" if value is None else str(value)


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation (n − 1 in the denominator; None when n = 1) of n values."""

    mean: float
    std: float | None
    n: int

    def __str__(self) -> str:
        if self.std is None:
            return f"{fmt(self.mean)} (n=1)"
        return f"{fmt(self.mean)} ± {fmt(self.std)} (n={self.n})"


def fmt(value: float | None) -> str:
    """Four significant digits: enough to compare models, short enough for a Markdown table."""
    return "—" if value is None else f"{value:.4g}"


def summarize(values: Iterable[float]) -> Stat | None:
    """The `Stat` of the finite values (a diverged seed's NaN is left out, and n says so); None if none."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    std = statistics.stdev(finite) if len(finite) > 1 else None
    return Stat(statistics.fmean(finite), std, len(finite))


@dataclass
class Group:
    """The jobs that share the values of the grouping keys (and differ in seed only)."""

    values: tuple[str, ...]
    jobs: list[Job]

    @property
    def completed(self) -> list[Job]:
        return [job for job in self.jobs if job.completed]

    def stat(self, metric: str) -> Stat | None:
        """Over completed jobs only: an interrupted or failed job's last values are not final results."""
        return summarize(job.metrics[metric] for job in self.completed if metric in job.metrics)

    def seeds(self) -> list[str]:
        """Each job's seed; "?" for a job that failed before its config resolved without a seed override."""
        return [seed_of(job) for job in self.jobs]


def seed_of(job: Job) -> str:
    seed = job.override_values().get(SEED)
    if seed is None:
        seed = job.config_value(SEED)
    return "?" if seed is None else str(seed)


def natural_key(value: str) -> tuple[int, float, str]:
    """Numbers in numeric order (2 before 10), then everything else alphabetically."""
    try:
        return 0, float(value), value
    except ValueError:
        return 1, 0.0, value


def group_jobs(jobs: Sequence[Job], keys: Sequence[str]) -> list[Group]:
    """One `Group` per combination of `keys`' values, in the order the sweep ran them."""
    groups: dict[tuple[str, ...], Group] = {}
    for job in jobs:
        values = tuple(group_value(job, key) for key in keys)
        groups.setdefault(values, Group(values, [])).jobs.append(job)
    return list(groups.values())


def write_jobs_csv(path: Path, jobs: Sequence[Job], swept: Sequence[str], metrics: Sequence[str]) -> None:
    """`report.csv`: one row per job with its overrides, status and every final metric (full precision)."""
    columns = ["job", "status", "model", "latent_dim", *(k for k in swept if k not in ALWAYS_GROUPED)]
    columns += ["global_step", "overrides", "error", *metrics]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for job in jobs:
            given = job.override_values()
            row = [job.num, job.status, job.model_name, job.latent_dim]
            row += [given.get(k, "") for k in swept if k not in ALWAYS_GROUPED]
            row += ["" if job.global_step is None else job.global_step, " ".join(job.overrides)]
            row += [job.error or "", *(repr(job.metrics[m]) if m in job.metrics else "" for m in metrics)]
            writer.writerow(row)


def write_groups_csv(
    path: Path, groups: Sequence[Group], keys: Sequence[str], metrics: Sequence[str]
) -> None:
    """`groups.csv`: one row per (group, metric) with mean, std and n at full precision."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*keys, "jobs", "completed", "metric", "mean", "std", "n"])
        for group in groups:
            for metric in metrics:
                stat = group.stat(metric)
                if stat is not None:
                    std = "" if stat.std is None else repr(stat.std)
                    row = [*group.values, len(group.jobs), len(group.completed)]
                    writer.writerow([*row, metric, repr(stat.mean), std, stat.n])
