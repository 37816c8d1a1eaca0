"""`summary.json`: one file per run with its final metrics and resolved config, for aggregating sweeps."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import lightning as L

from infovae_lightning.run.checkpoints import checkpoint_step, saved_checkpoints


def final_metrics(trainer: L.Trainer) -> dict[str, float]:
    """The last value of every logged metric (Lightning's callback_metrics), as plain floats."""
    metrics = {}
    for key, value in sorted(trainer.callback_metrics.items()):
        number = float(value)
        metrics[key] = number if math.isfinite(number) else str(number)
    return metrics


def write_summary(
    path: Path,
    trainer: L.Trainer | None,
    config: dict[str, Any],
    status: str,
    metrics: dict[str, Any] | None = None,
    **extra: Any,
) -> None:
    """`metrics` defaults to the trainer's current ones; pass them when several stages ran (each resets)."""
    summary: dict[str, Any] = {"status": status}
    if trainer is not None:
        saved = saved_checkpoints(trainer)
        summary |= {
            "metrics": dict(sorted((metrics if metrics is not None else final_metrics(trainer)).items())),
            "global_step": trainer.global_step,
            "epoch": trainer.current_epoch,
            "last_checkpoint": saved["last"],
            "last_checkpoint_step": checkpoint_step(saved["last"]),  # what resume=true continues from
            "best_checkpoint": saved["best"],
        }
    summary |= extra
    summary["config"] = config
    # Written to a temporary file and renamed, so a reader never sees half a summary.
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=str))
    os.replace(tmp, path)
