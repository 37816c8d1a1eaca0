"""`report.md`: the jobs, the grouped results, the curves, Figure 1 for toy sweeps and the sample grids.

Images are linked relative to the report and live in its folder (the jobs' pictures are copied there), so
the folder can be viewed in place (an IDE, GitHub), moved or committed on its own.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from infovae_lightning.report.collect import Job, status_counts
from infovae_lightning.report.tables import ALWAYS_GROUPED, fmt, natural_key, seed_of, split_of

if TYPE_CHECKING:
    from infovae_lightning.report.build import Report

MAX_ERROR_CHARS = 300  # an error's traceback-free message is one line, but can name long paths


def cell(text: object) -> str:
    """Text that cannot break a Markdown table row."""
    return str(text).replace("\n", " ").replace("|", "\\|")


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def link(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def job_overrides(job: Job, swept: Sequence[str]) -> str:
    """The overrides that tell this job from the others (all of them when nothing was swept)."""
    given = job.override_values()
    if not swept:
        return " ".join(job.overrides)
    return " ".join(f"{key}={given[key]}" for key in swept if key in given)


def common_overrides(jobs: Sequence[Job], swept: Sequence[str]) -> list[str]:
    first = next((job for job in jobs if job.overrides), None)
    if first is None:
        return []
    return [item for item in first.overrides if item.partition("=")[0].lstrip("+") not in swept]


def headline_split(report: Report) -> str:
    """The split the jobs table shows: test when the sweep tested, otherwise val."""
    splits = {split_of(metric) for metric in report.metrics}
    return "test" if "test" in splits else "val"


Table = tuple[list[str], list[list[object]]]  # header, rows (cells as the Markdown shows them)


def jobs_table(report: Report) -> Table:
    """The "Jobs" table: every job, the overrides that tell it apart, status, steps, the headline split's
    final metrics (and the toy's Var q(z)), and the error of the jobs that have one."""
    split = headline_split(report)
    shown = [m for m in report.metrics if split_of(m) in (split, "toy")]
    has_errors = any(job.error for job in report.jobs)
    header = ["job", "overrides", "status", "steps", *shown, *(["error"] if has_errors else [])]
    rows = []
    for job in report.jobs:
        row: list[object] = [job.num, job_overrides(job, report.swept), job.status]
        row += ["—" if job.global_step is None else job.global_step]
        row += [fmt(job.metrics.get(metric)) for metric in shown]
        if has_errors:
            error = job.error or ""
            row.append(error if len(error) <= MAX_ERROR_CHARS else error[:MAX_ERROR_CHARS] + "…")
        rows.append(row)
    return header, rows


def group_tables(report: Report) -> dict[str, Table]:
    """The grouped tables, one per split (test, val, toy, train...): a row per group with its key values,
    seeds, completed/jobs and mean ± std (n) of each metric."""
    splits: dict[str, list[str]] = {}
    for metric in report.metrics:
        splits.setdefault(split_of(metric), []).append(metric)
    tables = {}
    for name, metrics in splits.items():
        header = [*report.keys, "seeds", "completed", *metrics]
        rows = []
        for group in report.groups:
            stats = [group.stat(metric) for metric in metrics]
            row = [*group.values, ", ".join(group.seeds()), f"{len(group.completed)}/{len(group.jobs)}"]
            rows.append(row + ["—" if stat is None else str(stat) for stat in stats])
        tables[name] = (header, rows)
    return tables


def render(report: Report) -> str:
    jobs, out = report.jobs, report.out
    # The task and the folder's own name, not its absolute path: reports are committed and moved.
    tasks = sorted({str(job.config_value("task_name")) for job in jobs if job.config_value("task_name")})
    title = f"{', '.join(tasks)}: {report.sweep.name}" if tasks else report.sweep.name
    lines = [f"# Sweep report: `{title}`", ""]
    status = status_counts(jobs)
    data = sorted({job.data_name for job in jobs if job.data_name})
    lines.append(f"{len(jobs)} jobs ({status}); data: {', '.join(data) or 'unknown'}.")
    lines.append(
        "Every final metric, at full precision, is in [report.csv](report.csv) (one row per job); the "
        "grouped values are in [groups.csv](groups.csv)."
    )
    lines.append("")
    if report.swept:
        values = {
            key: sorted({job.override_values().get(key, "—") for job in jobs}, key=natural_key)
            for key in report.swept
        }
        swept = "; ".join(f"`{key}` = {', '.join(values[key])}" for key in report.swept)
        lines += [f"Swept: {swept}.", ""]
    common = common_overrides(jobs, report.swept)
    if common:
        lines += [f"Every job: `{' '.join(common)}`.", ""]
    for note in report.notes:
        lines += [f"> {note}", ""]

    # --- every job ---------------------------------------------------------------------------------------
    split = headline_split(report)
    lines += ["## Jobs", ""]
    lines += [f"Final values of the {split} metrics; the other splits are in report.csv.", ""]
    lines += [*table(*jobs_table(report)), ""]

    # --- grouped ------------------------------------------------------------------------------------------
    keys = report.keys
    lines += [f"## Results by {', '.join(keys)}", ""]
    lines += [
        "Mean ± sample standard deviation (n − 1) over the seeds of each group; n counts the completed jobs "
        "with a finite value (failed, interrupted and unfinished jobs are left out).",
        "",
    ]
    for name, (header, rows) in group_tables(report).items():
        lines += [f"### {name}", "", *table(header, rows), ""]
    if "toy/var_qz" in report.metrics:
        lines += [
            "`toy/var_qz` is Var q(z) of the aggregate posterior ½ q(z|x=−1) + ½ q(z|x=+1), computed by the "
            "report from each job's last checkpoint (mean over latent dimensions; 1 for q(z) = p(z)).",
            "",
        ]

    # --- curves ------------------------------------------------------------------------------------------
    if report.curves:
        lines += [
            "## Curves",
            "",
            "Mean over the seeds of each group, ±1 std shaded, from csv/metrics.csv.",
            "",
        ]
        for metric, path in report.curves.items():
            lines += [f"![{metric}]({link(path, out)})", ""]

    # --- against numeric keys ------------------------------------------------------------------------------
    for key, paths in report.trends.items():
        lines += [
            f"## Against {key}",
            "",
            f"Final values against `{key}`, one line per setting of the other keys; mean ± std over seeds.",
            "",
        ]
        for metric, path in paths.items():
            lines += [f"![{metric} against {key}]({link(path, out)})", ""]

    # --- Figure 1 ----------------------------------------------------------------------------------------
    if report.toy_figures:
        lines += toy_section(report)

    # --- samples -----------------------------------------------------------------------------------------
    if report.pictures:
        lines += ["## Samples", "", "The latest picture of each kind written by each completed job.", ""]
        for job in jobs:
            if job.num in report.pictures:
                lines += [f"### Job {job.num}: {job_overrides(job, report.swept)}", ""]
                for kind, path in report.pictures[job.num].items():
                    lines += [f"![{kind}]({link(path, out)})", ""]
    return "\n".join(lines).rstrip() + "\n"


def toy_grid(report: Report) -> tuple[list[str], dict[tuple[str, ...], dict[str, list[int]]]]:
    """Figure 1's layout: the columns (models, or experiments) and, for each row (the setting of the other
    keys and the seed), the jobs whose figure is in each column."""
    by_num = {job.num: job for job in report.jobs}
    # The columns are the models or, when the sweep chose whole experiments (`+sweeps=toy`: the ELBO and
    # InfoVAE with α = 0 and α = 1), the experiments: two of them can share a model class.
    arm = "experiment" if "experiment" in report.swept else "model"
    keys = [key for key in report.keys if key not in ("model", "experiment")]
    models: list[str] = []
    rows: dict[tuple[str, ...], dict[str, list[int]]] = {}
    for num in report.toy_figures:
        job = by_num[num]
        # The values the jobs were given, not those their config resolved to: an ELBO and an MMD-VAE of one
        # sweep differ in λ by their presets, and belong side by side all the same.
        given = job.override_values()
        model = given.get(arm, "—") if arm == "experiment" else job.model_name
        if model not in models:
            models.append(model)
        setting = tuple(
            f"{key}={report.group_of[num][key] if key in ALWAYS_GROUPED else given[key]}"
            for key in keys
            if key in ALWAYS_GROUPED or key in given
        )
        setting += (f"seed={seed_of(job)}",)
        rows.setdefault(setting, {}).setdefault(model, []).append(num)
    return models, rows


def toy_section(report: Report) -> list[str]:
    """Figure 1 with the models side by side: one row per setting of the other keys and seed."""
    models, rows = toy_grid(report)

    def image(num: int) -> str:
        return f"![job {num}]({link(report.toy_figures[num], report.out)})"

    lines = [
        "## Toy problem (Figure 1)",
        "",
        "Left: q(z|x=−1), q(z|x=+1) and the prior p(z) = N(0, 1) (histograms of samples of the first "
        "latent). Right: x ~ p(x|z) for z drawn from each of them. The ELBO pushes the two posteriors apart, "
        "away from the prior; InfoVAE keeps their mixture close to p(z) (Proposition 1).",
        "",
    ]
    body = [
        [
            ", ".join(setting),
            *(" ".join(image(num) for num in cells[m]) if m in cells else "—" for m in models),
        ]
        for setting, cells in rows.items()
    ]
    return [*lines, *table(["setting", *models], body), ""]
