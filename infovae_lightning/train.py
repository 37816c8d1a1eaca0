"""The Hydra entry point: compose the config, instantiate everything from it, fit, write summary.json.

`python train.py ...` (repository root) and the `infovae-train` console script both land in `main`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

import infovae_lightning.config  # noqa: F401  (registers schemas and resolvers)
from infovae_lightning.data import DatasetFormatError, DatasetNotFoundError
from infovae_lightning.summary import write_summary

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
    trainer = instantiate(cfg.trainer, callbacks=_instantiate_all(cfg.callbacks), logger=loggers or False)

    status = "failed"
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
        if cfg.test:
            trainer.test(model, datamodule=datamodule)
        status = "interrupted" if trainer.interrupted else "completed"
    finally:
        if trainer.is_global_zero:
            write_summary(out / "summary.json", trainer, config, status)
        _finish_wandb(loggers)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def _finish_wandb(loggers: list[Any]) -> None:
    """Close the W&B run so the next job of a multirun starts its own (never reuse one across jobs)."""
    if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
        import wandb

        wandb.finish()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        metrics = run(cfg)
    except (DatasetNotFoundError, DatasetFormatError) as error:
        # A user-fixable problem: one line that says what is missing and how to fix it, no traceback.
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    # A scalar for hyperparameter sweepers (e.g. Optuna): the final validation loss.
    return metrics.get("val/loss")


if __name__ == "__main__":
    main()
