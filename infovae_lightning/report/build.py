"""Making a sweep's report: read the jobs, analyse toy checkpoints, group, write CSVs, figures, Markdown."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from infovae_lightning.report import figures, markdown, toy
from infovae_lightning.report.collect import Job, read_sweep
from infovae_lightning.report.tables import (
    Group,
    group_jobs,
    group_keys,
    group_value,
    metric_names,
    swept_keys,
    write_groups_csv,
    write_jobs_csv,
)

log = logging.getLogger(__name__)

VAR_QZ = "toy/var_qz"


@dataclass
class Report:
    """Everything `report.md` shows."""

    sweep: Path
    out: Path
    jobs: list[Job]
    swept: list[str]  # override keys that differ between jobs (seed included)
    keys: list[str]  # the grouping keys (model, latent_dim, other swept keys but seed)
    groups: list[Group]
    metrics: list[str]
    group_of: dict[int, dict[str, str]] = field(default_factory=dict)  # job number -> its grouping values
    curves: dict[str, Path] = field(default_factory=dict)
    trends: dict[str, dict[str, Path]] = field(default_factory=dict)  # numeric key -> metric -> figure
    toy_figures: dict[int, Path] = field(default_factory=dict)
    pictures: dict[int, dict[str, Path]] = field(default_factory=dict)  # job -> kind -> copy in `out`
    notes: list[str] = field(default_factory=list)  # what could not be done, said in the report


def analyse_toy_jobs(
    jobs: list[Job], swept: list[str], out: Path, samples: int
) -> tuple[dict[int, Path], list[str]]:
    """Var q(z) (added to the job's metrics as `toy/var_qz`) for every completed toy job with a checkpoint,
    and Figure 1 for those with a 1-D latent, the paper's setting. A checkpoint that cannot be loaded is a
    note in the report, not an error: the rest of the report is still worth having."""
    written: dict[int, Path] = {}
    notes = []
    for job in jobs:
        if not (job.completed and toy.is_toy(job)):
            continue
        if job.checkpoint is None:
            notes.append(f"job {job.num}: no checkpoint, so no toy analysis")
            continue
        try:
            analysis = toy.analyse(job.checkpoint, samples=samples)
        except Exception as e:  # a damaged file, a model class from another version of the code
            notes.append(f"job {job.num}: {job.checkpoint} could not be analysed ({type(e).__name__}: {e})")
            continue
        job.metrics[VAR_QZ] = analysis.var_qz
        if job.latent_dim == "1":
            title = f"job {job.num} ({job.model_name}): {markdown.job_overrides(job, swept)}"
            written[job.num] = figures.toy_figure(analysis, title, out / f"toy_job{job.num}.png")
    return written, notes


def copy_pictures(jobs: list[Job], out: Path) -> dict[int, dict[str, Path]]:
    """The latest picture of each kind of every completed job, copied to `out/pictures/`, so that the report
    folder holds everything it shows and can be moved or committed without the sweep (docs/results/)."""
    copies: dict[int, dict[str, Path]] = {}
    for job in jobs:
        if not job.completed:
            continue
        for kind, path in job.images().items():
            copy = out / "pictures" / f"job{job.num}_{kind}.png"
            copy.parent.mkdir(exist_ok=True)
            shutil.copyfile(path, copy)
            copies.setdefault(job.num, {})[kind] = copy
    return copies


def build_report(sweep: Path, out: Path | None = None, toy_samples: int = 5000) -> Report:
    """Writes report.md, report.csv, groups.csv and the figures into `out` (default `<sweep>/report`)."""
    sweep = Path(sweep).resolve()
    out = (sweep / "report" if out is None else Path(out)).resolve()
    jobs = read_sweep(sweep)
    out.mkdir(parents=True, exist_ok=True)
    swept = swept_keys(jobs)
    toy_figures, notes = analyse_toy_jobs(jobs, swept, out, toy_samples)
    keys = group_keys(jobs)
    groups = group_jobs(jobs, keys)
    metrics = metric_names(jobs)
    report = Report(sweep, out, jobs, swept, keys, groups, metrics, toy_figures=toy_figures, notes=notes)
    report.group_of = {job.num: {key: group_value(job, key) for key in keys} for job in jobs}
    write_jobs_csv(out / "report.csv", jobs, swept, metrics)
    write_groups_csv(out / "groups.csv", groups, keys, metrics)
    report.curves = figures.curves(groups, keys, out)
    report.trends = figures.trends(groups, keys, markdown.headline_split(report), out)
    report.pictures = copy_pictures(jobs, out)
    (out / "report.md").write_text(markdown.render(report))
    return report
