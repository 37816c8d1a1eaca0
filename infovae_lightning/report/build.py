"""Making a sweep's report: read the jobs, analyse toy checkpoints, group, write CSVs, figures, Markdown."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from infovae_lightning.report import figures, markdown, stored, toy
from infovae_lightning.report.collect import Job, read_history, read_sweep
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
    not_redrawn: list[Path] = field(default_factory=list)  # figures a rebuild kept as they were drawn


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
    write_tables(report, notes)
    histories = {job.num: read_history(job) for job in jobs}
    stored.write_curves_csv(out / stored.CURVES_CSV, histories, figures.CURVE_METRICS)
    report.curves = figures.curves(groups, keys, out, histories)
    report.trends = figures.trends(groups, keys, markdown.headline_split(report), out)
    report.pictures = copy_pictures(jobs, out)
    (out / "report.md").write_text(markdown.render(report))
    return report


def write_tables(report: Report, notes: list[str]) -> None:
    """report.csv, groups.csv and report.json: the tables, and what a rebuild needs besides the curves."""
    out = report.out
    write_jobs_csv(out / stored.JOBS_CSV, report.jobs, report.swept, report.metrics)
    write_groups_csv(out / stored.GROUPS_CSV, report.groups, report.keys, report.metrics)
    stored.write_report_json(out / stored.REPORT_JSON, report.sweep.name, report.jobs, report.keys, notes)


def _carry(path: Path, out: Path) -> Path:
    """`path`, copied under `out` (same relative place) when the rebuild writes elsewhere."""
    target = out / path.name if path.parent.name != "pictures" else out / "pictures" / path.name
    if target.resolve() != path.resolve():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return target


def rebuild_report(folder: Path, out: Path | None = None) -> Report:
    """report.md, the CSV files and every figure its data allow, from a report folder alone (`folder`, e.g.
    docs/results/lambda), into `out` (default: the folder itself). The figures against numeric keys are
    redrawn from report.csv, the curves from curves.csv; the pictures and Figure 1 (drawn from checkpoints)
    are kept as they are, and so are the curve figures of a report without curves.csv: `not_redrawn` lists
    those, and the report says so."""
    folder = Path(folder).resolve()
    out = folder if out is None else Path(out).resolve()
    saved = stored.read_report_folder(folder)
    out.mkdir(parents=True, exist_ok=True)
    jobs = saved.jobs
    swept = swept_keys(jobs)
    keys = group_keys(jobs)
    groups = group_jobs(jobs, keys)
    metrics = saved.metrics  # report.csv's order: the tables of the report as it was made
    notes = list(saved.notes)
    report = Report(Path(saved.name), out, jobs, swept, keys, groups, metrics, notes=notes)
    report.group_of = {job.num: {key: group_value(job, key) for key in keys} for job in jobs}
    if saved.unknown:
        notes.append(f"Rebuilt from the report folder, which does not say {'; '.join(saved.unknown)}.")
    write_tables(report, saved.notes)

    curves_csv = folder / stored.CURVES_CSV
    if curves_csv.is_file():
        histories = stored.read_curves_csv(curves_csv)
        _carry(curves_csv, out)
        report.curves = figures.curves(groups, keys, out, histories)
    else:
        kept = [folder / figures.curve_file(m) for m in figures.CURVE_METRICS]
        report.curves = {
            m: _carry(p, out) for m, p in zip(figures.CURVE_METRICS, kept, strict=True) if p.is_file()
        }
        if report.curves:
            report.not_redrawn += report.curves.values()
            names = ", ".join(p.name for p in report.curves.values())
            notes.append(
                f"Not redrawn: the report folder has no {stored.CURVES_CSV}, so the curves ({names}) "
                "are the figures drawn when the report was made."
            )
    report.trends = figures.trends(groups, keys, markdown.headline_split(report), out)
    nums = {job.num for job in jobs}
    for png in sorted(folder.glob("toy_job*.png")):
        num = png.stem.removeprefix("toy_job")
        if num.isdigit() and int(num) in nums:
            report.toy_figures[int(num)] = _carry(png, out)
    report.toy_figures = dict(sorted(report.toy_figures.items()))  # job order, as a build has them
    if report.toy_figures:
        report.not_redrawn += report.toy_figures.values()
        notes.append(
            "Not redrawn: Figure 1 (toy_job*.png) is drawn from the jobs' checkpoints, which a report "
            "folder does not hold; these are the figures drawn when the report was made."
        )
    for png in sorted((folder / "pictures").glob("job*_*.png")):
        num, _, kind = png.stem.removeprefix("job").partition("_")
        if num.isdigit() and int(num) in nums:
            report.pictures.setdefault(int(num), {})[kind] = _carry(png, out)
    (out / "report.md").write_text(markdown.render(report))
    return report
