"""Checks an entry point runs before a Trainer writes anything (logs, configs, checkpoints).

Components check their own arguments when they are built (`train.prepare` turns each refusal into one
`ConfigError` naming the key); what only fails later (at `setup`, on the first step, or never, as a run that
trains nothing) is checked here.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from lightning import LightningDataModule, LightningModule
from omegaconf import DictConfig

from infovae_lightning.errors import ConfigError


def local_rank() -> int:
    """This process's rank on its node as a launcher set it (0 when it is the only one)."""
    return int(os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", 0)))


def _count(key: str, value: Any, minimum: int, allowed: tuple = (), fix: str = "") -> None:
    """`value` must be an integer >= `minimum`, or one of `allowed`."""
    if value in allowed and not isinstance(value, bool):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        also = f" (or {', '.join(map(str, allowed))})" if allowed else ""
        raise ConfigError(f"{key} must be an integer >= {minimum}{also}, got {value!r}{fix}")


def _devices_available(accelerator: str) -> int | None:
    """How many devices of `accelerator` this machine has (None: unknown, left to Lightning)."""
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.cuda.device_count()
    mps = getattr(torch.backends, "mps", None)
    if accelerator == "cpu" or (accelerator == "auto" and not (mps and mps.is_available())):
        return os.cpu_count() or 1  # Lightning's "auto" is the CPU without a GPU or MPS
    return None


def check_values(cfg: DictConfig) -> None:
    """The trainer settings Lightning accepts but that cannot give a useful run, and device counts that this
    machine cannot provide (Lightning would only fail once it sets the devices up)."""
    if cfg.get("threads") is not None:
        _count("threads", cfg.threads, 1, (), "; null: torch's default")
    trainer = cfg.trainer
    _count("trainer.max_steps", trainer.get("max_steps", -1), 1, (-1,), "; 0 trains nothing, -1: no limit")
    max_epochs = trainer.get("max_epochs")
    if max_epochs is not None:
        _count("trainer.max_epochs", max_epochs, 1, (-1,), "; 0 trains nothing, -1: no limit")
    for key in ("limit_train_batches", "limit_val_batches"):
        value = trainer.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(
                f"trainer.{key} must be a fraction in (0, 1] or a number of batches, got {value!r}"
            )
        if key == "limit_train_batches" and value <= 0:
            raise ConfigError(
                f"trainer.{key}={value} trains nothing; give a fraction in (0, 1] or a count >= 1"
            )
    if trainer.get("check_val_every_n_epoch") is not None:
        _count("trainer.check_val_every_n_epoch", trainer.check_val_every_n_epoch, 1, fix="; null: by steps")
    if trainer.get("log_every_n_steps") is not None:  # None: Lightning's default (50)
        _count("trainer.log_every_n_steps", trainer.log_every_n_steps, 1)
    clip = trainer.get("gradient_clip_val")
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, int | float) or clip < 0):
        raise ConfigError(f"trainer.gradient_clip_val must be a number >= 0 (or null), got {clip!r}")
    for key in ("deterministic", "enable_progress_bar", "enable_model_summary", "enable_checkpointing"):
        value = trainer.get(key)
        if (
            value is not None
            and not isinstance(value, bool)
            and not (key == "deterministic" and value == "warn")
        ):
            raise ConfigError(f"trainer.{key} must be true or false, got {value!r}")
    devices = trainer.get("devices", 1)
    if isinstance(devices, str) and devices.strip().lstrip("-").isdigit():  # the CLI's devices: '4'
        devices = int(devices)
    if isinstance(devices, int) and not isinstance(devices, bool):
        if devices == 0 or devices < -1:
            raise ConfigError(f"trainer.devices must be >= 1 (or -1: all of them), got {devices}")
        available = _devices_available(str(trainer.get("accelerator", "auto")))
        if available is not None and devices > max(available, 1):
            kind = trainer.get("accelerator", "auto")
            kind = ("cuda" if torch.cuda.is_available() else "cpu") if kind == "auto" else kind
            raise ConfigError(
                f"trainer.devices={devices}, but this machine has {available} {kind} device(s); "
                f"set trainer.devices=<at most {max(available, 1)}>"
            )


def load_data_early(datamodule: LightningDataModule, stage: str) -> None:
    """Downloads (if needed) and reads the data `stage` uses, so that a missing, corrupt or truncated file
    ends the run before the Trainer creates its log directories, and split sizes larger than the data present
    are refused here.

    One process per node does it, as Lightning's `prepare_data`; the others read the data later in `fit`,
    when it is there. Lightning's own calls to `prepare_data` and `setup` then find it done.
    """
    if local_rank() == 0:
        datamodule.prepare_data()
        try:
            datamodule.setup(stage)
        except ValueError as e:  # e.g. val_size larger than the data present
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(f"data: {e}") from None


def check_metrics(callbacks: list[Any], datamodule: LightningDataModule, model: LightningModule) -> None:
    """Each metric's own check against the model and data (a classifier file it needs, labels, a stochastic
    encoder), which Lightning would run only at `setup`."""
    from infovae_lightning.metrics import Evaluator

    for evaluator in (cb for cb in callbacks if isinstance(cb, Evaluator)):
        for metric in evaluator.metrics:
            try:
                metric.check(model, datamodule)
            except (ValueError, OSError) as e:
                if isinstance(e, ConfigError):
                    raise
                raise ConfigError(f"metrics.{metric.name}: {e}") from None
