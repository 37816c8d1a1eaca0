"""The completed jobs of sweep directories and their logged points, for the scripts under docs/results/."""

from __future__ import annotations

import csv
import statistics
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
    """Every (key…, step, metric, value) of the completed jobs, `key_of(job config)` naming each job.

    Jobs with the same key (the same arm and seed run twice, say to 5,000 and to 20,000 steps) are read once:
    the one that ran longest, whose earlier points are the shorter run's steps again."""
    longest: dict[tuple, tuple[int, Path, dict, dict]] = {}
    for job in completed_jobs(sweeps):
        key = key_of(job.config)
        history = read_history(job)
        last = max((s for logged in history.values() for s, _ in logged), default=-1)
        name = tuple(sorted(key.items()))
        if name in longest:
            shorter = job.path if longest[name][0] >= last else longest[name][1]
            print(f"skipped {shorter} (a longer run of {key} is read)", file=sys.stderr)
            if shorter == job.path:
                continue
        longest[name] = (last, job.path, key, history)
    rows = []
    for _, _, key, history in longest.values():
        for metric, logged in history.items():
            if metric in metrics:
                rows += [dict(key, step=s, metric=metric, value=v) for s, v in logged]
    return rows


def stored_points(
    runs: Path, sweeps: list[str], read: Callable[[list[Path]], list[dict]], fields: list[str]
) -> list[dict]:
    """The points `runs` (committed) holds, with those `read` gets from `sweeps` merged in and written back.

    A job is keyed by `fields` less (step, metric, value). A key the sweeps hold replaces the stored one when
    the new run logged at least as far (a seed re-run longer, say), so a study grows sweep by sweep and its
    tables and figures can always be made again from its CSV alone. Delete `runs` to start it over."""

    def stored() -> list[dict]:
        if not runs.is_file():
            return []
        with runs.open(newline="") as f:
            return list(csv.DictReader(f))

    if not sweeps:
        return stored()
    key_fields = fields[:-3]

    def by_key(rows: list[dict]) -> dict[tuple, list[dict]]:
        grouped: dict[tuple, list[dict]] = {}
        for r in rows:
            grouped.setdefault(tuple(str(r[k]) for k in key_fields), []).append(r)
        return grouped

    def last_step(rows: list[dict]) -> int:
        return max(int(r["step"]) for r in rows)

    merged = by_key(stored())
    for key, new in by_key(read([Path(s) for s in sweeps])).items():
        old = merged.get(key)
        if old is not None and last_step(old) > last_step(new):
            print(
                f"kept the stored {key} (to step {last_step(old)}; the sweep's ends at {last_step(new)})",
                file=sys.stderr,
            )
            continue
        merged[key] = new
    rows = [r for group in merged.values() for r in group]
    with runs.open("w", newline="") as f:
        writer = csv.DictWriter(f, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return stored()  # as written, so the tables are the same made from the sweeps or from the file


def datamodule_of(config: dict, root: Path):
    """The data module a job trained on, read offline from `root`, set up for fitting (train and val)."""
    from infovae_lightning.data import InfoVAEDataModule

    data = {k: v for k, v in config["data"].items() if k not in ("_target_", "name", "root")}
    dm = InfoVAEDataModule(config["data"]["name"], **data | dict(root=root, download=False))
    dm.setup("fit")
    return dm


def first_examples(loader, n: int) -> tuple[Any, Any]:
    """The first `n` (images, labels) of a dataloader's batches, as two tensors."""
    import torch

    xs, ys, have = [], [], 0
    for x, y in loader:
        xs.append(x)
        ys.append(y)
        have += len(x)
        if have >= n:
            break
    return torch.cat(xs)[:n], torch.cat(ys)[:n]


def with_kernel(model: str, kernel: str | None) -> str:
    """A model's name in the tables, with its MMD kernel when that is not the authors' Gaussian
    ("MMDVAE IMQ"); a job configured before the kernel option had the Gaussian."""
    return model if kernel in (None, "", "gaussian") else f"{model} {kernel.upper()}"


def last_values(by_seed: dict[int, list[tuple[int, float]]], step: int) -> list[float]:
    """Each seed's last value at or before `step` (0-based: validation runs at 499, 999, …), for the seeds
    whose run logged that far (within a step)."""
    out = []
    for logged in by_seed.values():
        before = [v for s, v in sorted(logged) if s <= step]
        if before and max(s for s, _ in logged) >= step - 1:
            out.append(before[-1])
    return out


def cell(values: list[float], form: str) -> str:
    """Mean ± std over seeds, or the one value marked (n=1), or — for none."""
    if not values:
        return "—"
    if len(values) == 1:
        return form.format(values[0]) + " (n=1)"
    return f"{form.format(statistics.fmean(values))} ± {form.format(statistics.stdev(values))}"
