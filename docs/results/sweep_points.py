"""The completed jobs of sweep directories and their logged points, for the scripts under docs/results/."""

from __future__ import annotations

import sys
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's package, without an install
from infovae_lightning.report.collect import Job, read_history, read_sweep  # noqa: E402


def completed_jobs(sweeps: list[Path]) -> Iterator[Job]:
    """The jobs of `sweeps` that completed; the others are named on stderr."""
    for sweep in sweeps:
        for job in read_sweep(sweep):
            if job.completed:
                yield job
            else:
                print(f"skipped {job.path} ({job.status})", file=sys.stderr)


def points(
    sweeps: list[Path], key_of: Callable[[dict], dict[str, Any]], metrics: Container[str]
) -> list[dict]:
    """Every (key…, step, metric, value) of the completed jobs, `key_of(job config)` naming each job."""
    rows = []
    for job in completed_jobs(sweeps):
        key = key_of(job.config)
        for metric, logged in read_history(job).items():
            if metric in metrics:
                rows += [dict(key, step=s, metric=metric, value=v) for s, v in logged]
    return rows
