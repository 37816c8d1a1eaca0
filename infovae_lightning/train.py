"""The Hydra entry point: compose the config, instantiate everything from it, fit, write summary.json.

`python train.py ...` (repository root) and the `infovae-train` console script both land in `main`.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

import infovae_lightning.config  # noqa: F401  (registers schemas and resolvers)
from infovae_lightning.data import DatasetFormatError, DatasetNotFoundError
from infovae_lightning.metrics import EvaluationCallback, EvaluationError
from infovae_lightning.metrics.classifier import ClassifierError
from infovae_lightning.summary import final_metrics, write_summary

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    return [instantiate(node) for node in (group or {}).values() if node is not None]


def run(cfg: DictConfig) -> dict[str, Any]:
    """Train one model as `cfg` says; returns the summary's metrics."""
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = OmegaConf.to_container(cfg, resolve=True)
    OmegaConf.save(OmegaConf.create(config), out / "config.yaml")

    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model, _convert_="all")
    loggers = _instantiate_all(cfg.logger)
    callbacks = _instantiate_all(cfg.callbacks) + _instantiate_all(cfg.get("metrics"))
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    status = "failed"
    metrics: dict[str, Any] = {}  # fit's and test's: `trainer.test` resets the trainer's metrics
    timing: dict[str, Any] = {}
    try:
        start = time.perf_counter()
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
        timing |= {"fit_seconds": time.perf_counter() - start, "epochs": trainer.current_epoch}
        metrics |= final_metrics(trainer)
        if cfg.test and not trainer.interrupted:
            start = time.perf_counter()
            trainer.test(model, datamodule=datamodule)
            timing["test_seconds"] = time.perf_counter() - start
        status = "interrupted" if trainer.interrupted else "completed"
    finally:
        metrics |= final_metrics(trainer)
        if trainer.is_global_zero:
            evaluations = [cb for cb in callbacks if isinstance(cb, EvaluationCallback)]
            timing["evaluation_seconds"] = {cb.name: cb.seconds for cb in evaluations}
            records = {key: rec for cb in evaluations for key, rec in cb.records.items()}
            write_summary(
                out / "summary.json", trainer, config, status, metrics, evaluation=records, timing=timing
            )
        _finish_wandb(loggers)
    return metrics


def _finish_wandb(loggers: list[Any]) -> None:
    """Close the W&B run so the next job of a multirun starts its own (never reuse one across jobs)."""
    if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
        import wandb

        wandb.finish()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        metrics = run(cfg)
    except (DatasetNotFoundError, DatasetFormatError, EvaluationError, ClassifierError) as error:
        # A user-fixable problem: one line that says what is missing and how to fix it, no traceback.
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    # A scalar for hyperparameter sweepers (e.g. Optuna): the final validation loss.
    value = metrics.get("val/loss")
    return value if isinstance(value, float) else None


if __name__ == "__main__":
    main()
