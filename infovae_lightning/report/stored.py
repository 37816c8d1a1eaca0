"""What a report folder keeps so that its tables and figures can be redrawn without the sweep's job
directories (`infovae report --from-report <report dir>`), and reading it back.

- `report.csv`   one row per job: status, overrides, error, every final metric (full precision)
- `report.json`  per job what report.csv lacks: the overrides as a list, the values it is grouped by (its
                 resolved λ when it did not override it), seed, task and data; the report's title and notes
- `curves.csv`   the per-step values of the curve figures, long form: job, step, key, value

Reports written before report.json and curves.csv existed (docs/results/) hold report.csv, groups.csv and
report.md only: the jobs are read back from report.csv, the values a job did not override from groups.csv
(the one group its known values fit), the title, data and notes from report.md; their curves cannot be
redrawn and the seeds a job did not override are unknown ("?").
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infovae_lightning.errors import InfoVAEError
from infovae_lightning.report.collect import Job
from infovae_lightning.report.tables import ALWAYS_GROUPED, SEED, group_keys, group_value

JOBS_CSV = "report.csv"
GROUPS_CSV = "groups.csv"
REPORT_JSON = "report.json"
CURVES_CSV = "curves.csv"
FORMAT = 1

History = dict[str, list[tuple[int, float]]]


class ReportFolderNotFound(InfoVAEError):
    """The directory given to `--from-report` holds no report (reported as one `error:` line)."""


def write_curves_csv(path: Path, histories: Mapping[int, History], keys: Iterable[str]) -> None:
    """`curves.csv`: each job's (step, value) points of `keys` (the curve figures' metrics), one per row."""
    keys = list(keys)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["job", "step", "key", "value"])
        for num, history in histories.items():
            for key in keys:
                for step, value in history.get(key, []):
                    writer.writerow([num, step, key, repr(value)])


def read_curves_csv(path: Path) -> dict[int, History]:
    histories: dict[int, History] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            job = histories.setdefault(int(row["job"]), {})
            job.setdefault(row["key"], []).append((int(row["step"]), float(row["value"])))
    return {num: {key: sorted(points) for key, points in h.items()} for num, h in histories.items()}


def _seed(job: Job) -> str | None:
    seed = job.override_values().get(SEED)
    if seed is None:
        seed = job.config_value(SEED)
    return None if seed is None else str(seed)


def _task(job: Job) -> str | None:
    task = job.config_value("task_name")
    return None if task is None else str(task)


def write_report_json(
    path: Path, name: str, jobs: Sequence[Job], keys: Sequence[str], notes: list[str]
) -> None:
    records = [
        {
            "job": job.num,
            "overrides": job.overrides,
            "model": job.model_name,
            "latent_dim": job.latent_dim,
            "group": {key: group_value(job, key) for key in keys},
            "seed": _seed(job),
            "task": _task(job),
            "data": job.data_name,
        }
        for job in jobs
    ]
    text = json.dumps({"format": FORMAT, "sweep": name, "notes": notes, "jobs": records}, indent=1)
    path.write_text(text + "\n")


@dataclass
class SavedReport:
    """A report folder read back: its jobs (as `Job` records whose config holds what the report knows of
    them), the sweep's name, the notes the report was made with, and what could not be recovered."""

    folder: Path
    name: str
    jobs: list[Job]
    metrics: list[str]  # report.csv's metric columns, in its order
    notes: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # what an old report folder does not say


def _set(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            return
    node[last] = value


def _job_from_row(folder: Path, row: Mapping[str, str], metrics: Sequence[str]) -> Job:
    values = {}
    for metric in metrics:
        if row.get(metric):
            values[metric] = float(row[metric])  # repr() of a float: exact, "nan" and "inf" included
    step = row.get("global_step") or ""
    return Job(
        num=int(row["job"]),
        path=folder,
        status=row["status"],
        overrides=(row.get("overrides") or "").split(),
        metrics=values,
        global_step=int(step) if step else None,
        error=row.get("error") or None,
    )


def _describe(job: Job, *, model: str, latent_dim: str, group: Mapping[str, str], seed, task, data) -> None:
    """Gives `job` the config and choices its properties (model_name, group_value, seed_of...) read."""
    job.choices = {"model": model}
    config: dict[str, Any] = {"latent_dim": latent_dim}
    for key, value in group.items():
        if key not in ALWAYS_GROUPED and value != "—":
            _set(config, key, value)
    for dotted, value in ((SEED, seed), ("task_name", task), ("data.name", data)):
        if value is not None:
            _set(config, dotted, value)
    job.config = config


def _old_header(folder: Path) -> tuple[str, str | None, str | None, list[str]]:
    """The sweep's name, task(s), data and notes from an old report.md (written before report.json)."""
    name, task, data, notes = folder.name, None, None, []
    path = folder / "report.md"
    lines = path.read_text().splitlines() if path.is_file() else []
    for line in lines:
        if line.startswith("## "):
            break
        if m := re.fullmatch(r"# Sweep report: `(.*)`", line):
            task, _, name = m.group(1).rpartition(": ")
            task = task or None
        elif m := re.match(r"\d+ jobs \(.*\); data: (.*)\.$", line):
            data = None if m.group(1) == "unknown" else m.group(1)
        elif line.startswith("> "):
            notes.append(line[2:])
    return name, task, data, notes


def _groups_csv_values(path: Path, keys: Sequence[str]) -> list[tuple[str, ...]]:
    """The groups of an old report's groups.csv, if it is grouped by `keys`."""
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        if header[: len(keys)] != list(keys):
            return []
        return list(dict.fromkeys(tuple(row[: len(keys)]) for row in reader))


def read_report_folder(folder: Path) -> SavedReport:
    """The jobs of the report in `folder`, from report.csv and report.json (or, for an older report,
    groups.csv and report.md)."""
    folder = Path(folder)
    path = folder / JOBS_CSV
    if not path.is_file():
        raise ReportFolderNotFound(
            f"{folder} holds no {JOBS_CSV}; give a report folder (<sweep dir>/report, docs/results/<name>)"
        )
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    metrics = columns[columns.index("error") + 1 :] if "error" in columns else []
    jobs = [_job_from_row(folder, row, metrics) for row in rows]
    saved_path = folder / REPORT_JSON
    if saved_path.is_file():
        saved = json.loads(saved_path.read_text())
        records = {record["job"]: record for record in saved["jobs"]}
        for job in jobs:
            record = records[job.num]
            job.overrides = [str(item) for item in record["overrides"]]
            _describe(
                job,
                model=record["model"],
                latent_dim=record["latent_dim"],
                group=record["group"],
                seed=record["seed"],
                task=record["task"],
                data=record["data"],
            )
        return SavedReport(folder, saved["sweep"], jobs, metrics, list(saved.get("notes", [])))

    name, task, data, notes = _old_header(folder)
    report = SavedReport(folder, name, jobs, metrics, notes)
    by_num = {int(row["job"]): row for row in rows}
    for job in jobs:
        row = by_num[job.num]
        _describe(
            job, model=row["model"], latent_dim=row["latent_dim"], group={}, seed=None, task=task, data=data
        )
    keys = group_keys(jobs)
    groups = _groups_csv_values(folder / GROUPS_CSV, keys)
    unresolved = set()
    for job in jobs:
        known = [group_value(job, key) for key in keys]
        if "—" not in known:
            continue
        fits = [g for g in groups if all(k in ("—", v) for k, v in zip(known, g, strict=True))]
        if len(fits) != 1:
            unresolved.add(job.num)
            continue
        group = dict(zip(keys, fits[0], strict=True))
        model = by_num[job.num]["model"]
        _describe(job, model=model, latent_dim=job.latent_dim, group=group, seed=None, task=task, data=data)
    if unresolved:
        report.unknown.append(f"the grouping values jobs {sorted(unresolved)} did not override")
    if any(_seed(job) is None for job in jobs):
        report.unknown.append("the seeds the jobs did not override (shown as ?)")
    return report
