"""Reading a sweep directory (`multirun/<task>/<time>/`) into one `Job` record per job directory.

Nothing a job left behind may stop the report: a job still running, or killed before it wrote
`summary.json`, becomes a job with status `missing`; a failed job keeps its `error`; a file that cannot be
parsed is named in the job's `error` instead of raising.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infovae_lightning.errors import InfoVAEError

FAILED = "failed"  # summary.json's status of a job that raised
MISSING = "missing"  # no summary.json: still running, or killed before writing it
UNREADABLE = "unreadable"  # a summary.json that is not JSON (written by hand, a full disk)


@dataclass
class Job:
    """One job directory of a multirun, as far as it could be read."""

    num: int
    path: Path
    status: str
    overrides: list[str] = field(default_factory=list)  # as given on the command line, e.g. "model.lam=10"
    metrics: dict[str, float] = field(default_factory=dict)  # final values; non-finite ones are NaN/±inf
    global_step: int | None = None
    error: str | None = None
    config: dict[str, Any] = field(default_factory=dict)  # resolved (summary.json) or composed (.hydra/)
    choices: dict[str, str] = field(default_factory=dict)  # the config groups Hydra picked, e.g. model: beta
    checkpoint: Path | None = None  # the last checkpoint, if the job wrote one

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    def override_values(self) -> dict[str, str]:
        """`key=value` overrides as a dict: `+key`/`++key` count as `key`; deletions (`~key`) are left out."""
        values = {}
        for item in self.overrides:
            key, sep, value = item.partition("=")
            if sep and not key.startswith("~"):
                values[key.lstrip("+")] = value
        return values

    def config_value(self, dotted: str) -> Any:
        """The resolved config's value at `a.b.c`, or None when absent (e.g. a job that failed at set-up)."""
        node: Any = self.config
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    @property
    def model_name(self) -> str:
        """The model preset (`elbo`, `beta`, `mmd`...): the group choice tells β-VAE from ELBO, which share a
        class; the class name when the choice is unknown."""
        name = self.override_values().get("model") or self.choices.get("model")
        if name:
            return str(name)
        target = self.config_value("model._target_")
        return str(target).rpartition(".")[2] if target else "?"

    @property
    def latent_dim(self) -> str:
        value = self.config_value("latent_dim")
        if value is None:
            value = self.override_values().get("latent_dim")
        return "?" if value is None else str(value)

    @property
    def data_name(self) -> str | None:
        name = self.config_value("data.name") or self.choices.get("data")
        return None if name is None else str(name)

    def images(self) -> dict[str, Path]:
        """The latest PNG of each kind (`val_samples`, `test_latent_space`...): files are named
        `<kind>_step<step>.png` and a long run writes one every few epochs."""
        latest: dict[str, Path] = {}
        for png in sorted((self.path / "images").glob("*.png")):  # steps are zero-padded: the latest is last
            kind = png.stem.rpartition("_step")[0] or png.stem
            latest[kind] = png
        return dict(sorted(latest.items()))


def status_counts(jobs: Iterable[Job]) -> str:
    """ "3 completed, 1 failed, 1 missing": how many jobs are in each state."""
    return ", ".join(f"{n} {status}" for status, n in sorted(Counter(job.status for job in jobs).items()))


def _number(value: Any) -> float | None:
    """A metric value as a float: summary.json stores non-finite values as strings ("nan", "inf")."""
    if not isinstance(value, int | float | str):  # bool is an int
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


class SweepNotFound(InfoVAEError):
    """The directory given is not a sweep directory (reported as one `error:` line)."""


def is_run_dir(path: Path) -> bool:
    """Whether `path` is the directory of one run (`python train.py`, outputs/<task>/<time>)."""
    return (path / "summary.json").is_file() or (path / ".hydra").is_dir()


def job_dirs(sweep: Path) -> list[Path]:
    """The job directories of a sweep (Hydra names them 0, 1, 2...), in job order; a single run's directory
    is a sweep of one job."""
    if not sweep.is_dir():
        raise SweepNotFound(f"{sweep} is not a directory; give a run or a sweep directory")
    jobs = sorted((p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    if not jobs and is_run_dir(sweep):
        return [sweep]
    if not jobs:
        raise SweepNotFound(
            f"{sweep} holds no job directories (0/, 1/, ...) and no summary.json; give a run directory, "
            "outputs/<task>/<time>, or a sweep directory, multirun/<task>/<time>"
        )
    return jobs


def read_job(path: Path) -> Job:
    """One job directory as a `Job`, whatever state the job is in (a single run is job 0)."""
    job = Job(num=int(path.name) if path.name.isdigit() else 0, path=path, status=MISSING)
    overrides = _read_yaml(path / ".hydra" / "overrides.yaml")
    if isinstance(overrides, list):
        job.overrides = [str(item) for item in overrides]
    hydra = _read_yaml(path / ".hydra" / "hydra.yaml")
    if isinstance(hydra, dict):
        choices = hydra.get("hydra", {}).get("runtime", {}).get("choices", {}) or {}
        job.choices = {str(k): str(v) for k, v in choices.items() if v is not None}
    # The composed config, interpolations unresolved: what a job without a resolved config (unfinished, failed
    # at set-up) is known by, so that it joins its group (its λ, its data) like the others.
    composed = _read_yaml(path / ".hydra" / "config.yaml")
    if isinstance(composed, dict):
        job.config = composed
    summary_path = path / "summary.json"
    if not summary_path.is_file():
        job.error = "no summary.json: the job is still running, or was killed before writing it"
        return job
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError) as e:
        job.status, job.error = UNREADABLE, f"summary.json cannot be read: {e}"
        return job
    job.status = str(summary.get("status", "unknown"))
    job.error = summary.get("error")
    job.global_step = summary.get("global_step")
    config = summary.get("config") or {}
    if set(config) == {"overrides"}:  # a job that failed before its config resolved records only these
        job.overrides = job.overrides or [str(item) for item in config["overrides"]]
    elif config:
        job.config = config
    for key, value in (summary.get("metrics") or {}).items():
        number = _number(value)
        if number is not None:
            job.metrics[key] = number
    # The job's own last.ckpt first: summary.json holds the absolute path, stale once the sweep is moved.
    candidates = [path / "checkpoints" / "last.ckpt", summary.get("last_checkpoint")]
    job.checkpoint = next((Path(c) for c in candidates if c and Path(c).is_file()), None)
    return job


def read_sweep(sweep: Path) -> list[Job]:
    return [read_job(path) for path in job_dirs(sweep)]


def read_history(job: Job) -> dict[str, list[tuple[int, float]]]:
    """Each metric's (step, value) points from `csv/metrics.csv` (Lightning's CSVLogger), in step order.

    The logger writes one row per logging call, so train and val values sit on different rows with the same
    step, and a step can repeat (the last validation is logged again when fit ends): the last value logged
    at a step wins. An absent or unreadable file gives no history (e.g. `logger=wandb`).
    """
    path = job.path / "csv" / "metrics.csv"
    points: dict[str, dict[int, float]] = {}
    try:
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                try:
                    step = int(float(row.get("step") or ""))
                except ValueError:
                    continue
                for key, text in row.items():
                    if key in ("epoch", "step") or not text:
                        continue
                    value = _number(text)
                    if value is not None and not math.isnan(value):
                        points.setdefault(key, {})[step] = value
    except OSError:
        return {}
    return {key: sorted(values.items()) for key, values in points.items()}
