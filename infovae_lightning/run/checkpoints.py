"""Checkpoints: which model one holds, whether it fits a given model, and starting a model from its weights.

Two ways to use a checkpoint, kept apart on purpose:

- **resume** (`ckpt_path`): continue the run saved there (weights, optimizer, loops, callbacks) with its own
  hyperparameters. A different value asked for is an error, not silently ignored.
- **fine-tune** (`init_from`): a new run that starts from the checkpoint's weights with a fresh optimizer and
  the hyperparameters given now (a new λ or α, a frozen encoder). The architecture must match.

Every checkpoint this library writes holds plain hyperparameters (see `models.base`) and the import path of
its model class (`MODEL_CLASS_KEY`), so `torch.load(..., weights_only=True)` reads it and it can be checked
against a model before any data is touched.
"""

from __future__ import annotations

import copy
import importlib
import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import nn

from infovae_lightning.data.errors import one_line
from infovae_lightning.errors import CheckpointError
from infovae_lightning.nets.likelihoods import default_sigma_min
from infovae_lightning.nets.registry import net_spec

MODEL_CLASS_KEY = "infovae_model_class"
# Settings that may change when a run is resumed or fine-tuned: where it was initialised from, and whether
# the loss computation is compiled (how the model runs, not what it is).
NOT_COMPARED = ("init_from", "compile")
# Hyperparameters added after checkpoints were first written, each with the value that reproduces how a model
# saved before the key existed ran (a function of the key's parent dict where it depends on a sibling). Resume
# compares hyperparameters with these filled in on both sides, so an older checkpoint resumes as what it is
# (tests/data/checkpoints holds checkpoints of earlier versions).
ADDED_HPARAMS: dict[str, Any] = {
    "lam_warmup_steps": 0,  # λ warm-up: off
    "weight_decay": 0.0,  # plain Adam
    "weight_decay_nets": ["encoder", "decoder"],  # the decay, if any, on both networks
    "std_init": None,  # the encoder's σ starts at softplus(0)
    "likelihood.levels": None,  # a Gaussian on continuous values (no dequantization)
    "likelihood.sigma_min": lambda likelihood: default_sigma_min(likelihood["levels"]),  # the code's default
}


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def import_class(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


@dataclass
class Checkpoint:
    path: Path
    model_class: str  # import path, e.g. infovae_lightning.models.mmd.MMDVAE
    hparams: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    epoch: int | None = None  # the epoch and optimizer step it was saved at (None: not a training checkpoint)
    global_step: int | None = None

    @property
    def class_name(self) -> str:
        return self.model_class.rpartition(".")[2]


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Reads a checkpoint with `weights_only=True`; a missing, damaged or foreign file: `CheckpointError`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # truncated zip, not a torch file, a pickle that is not plain data
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(e).__name__}: {one_line(e, 200)})"
        ) from e
    if not isinstance(raw, dict) or MODEL_CLASS_KEY not in raw or "state_dict" not in raw:
        raise CheckpointError(f"{path} is not a checkpoint of an infovae-lightning model")
    hparams = dict(raw.get("hyper_parameters", {}))
    return Checkpoint(
        path, raw[MODEL_CLASS_KEY], hparams, raw["state_dict"], raw.get("epoch"), raw.get("global_step")
    )


def upgrade_hparams(hparams: dict[str, Any]) -> dict[str, Any]:
    """`hparams` with each key of `ADDED_HPARAMS` it lacks (where its parent exists) set to its old value, and
    `net` nested with its defaults filled in (`nets.registry.net_spec`: earlier versions stored it flat), as
    the model's `__init__` reads it."""
    upgraded = copy.deepcopy(dict(hparams))
    if isinstance(upgraded.get("net"), MutableMapping):
        try:
            upgraded["net"] = net_spec(upgraded["net"])
        except ValueError:  # not a net at all: the model refuses it when built
            pass
    for dotted, value in ADDED_HPARAMS.items():
        *parents, leaf = dotted.split(".")
        node: Any = upgraded
        for parent in parents:
            node = node.get(parent) if isinstance(node, MutableMapping) else None
        if isinstance(node, MutableMapping) and leaf not in node:
            node[leaf] = value(node) if callable(value) else value
    return upgraded


def check_fits(model: nn.Module, ckpt: Checkpoint) -> None:
    """Raises `CheckpointError` unless the checkpoint holds a model of `model`'s class and shapes."""
    name = type(model).__name__
    if ckpt.model_class != class_path(type(model)):
        raise CheckpointError(f"{ckpt.path} holds a {ckpt.class_name}, not a {name}")
    latent = (ckpt.hparams.get("latent_dim"), model.hparams.get("latent_dim"))
    if latent[0] != latent[1]:
        raise CheckpointError(
            f"{ckpt.path} has latent_dim={latent[0]}, the {name} has latent_dim={latent[1]}"
        )
    ours = {key: tuple(t.shape) for key, t in model.state_dict().items()}
    theirs = {key: tuple(t.shape) for key, t in ckpt.state_dict.items()}
    for key in sorted(ours.keys() | theirs.keys()):
        if ours.get(key) != theirs.get(key):
            shapes = f"{theirs.get(key, 'absent')} in the checkpoint, {ours.get(key, 'absent')} in the model"
            saved, built = upgrade_hparams(ckpt.hparams), upgrade_hparams(dict(model.hparams))
            differ = [
                k
                for k in ("input_shape", "net", "likelihood", "deterministic", "disc_hidden")
                if saved.get(k) != built.get(k)
            ]
            cause = f" (they differ in {', '.join(differ)})" if differ else ""
            raise CheckpointError(f"{ckpt.path} does not fit the {name}: {key} is {shapes}{cause}")


def check_resumable(
    values: dict[str, Any], ckpt: Checkpoint, prefix: str = "model.", resuming: str | None = None
) -> None:
    """Resuming continues the saved run, so each of `values` (hyperparameters) must be the checkpoint's own.
    `prefix`: how the entry point spells model keys ("model." for train.py, "--model." for the CLI);
    `resuming`: how it names the resume in the message."""
    resuming = resuming or f"resuming {ckpt.path} continues that run"
    given, saved = upgrade_hparams(values), upgrade_hparams(ckpt.hparams)
    for key in sorted(values):
        if key not in NOT_COMPARED and given[key] != saved.get(key):
            raise CheckpointError(
                f"{resuming}, but {prefix}{key}={values[key]!r} differs from its "
                f"{ckpt.hparams.get(key)!r}; to start a new run from its weights with new values, use "
                f"{prefix}init_from={ckpt.path}"
            )


def check_same_run(model: nn.Module, ckpt: Checkpoint) -> None:
    """The checkpoint fits `model`, and every hyperparameter of `model` is the checkpoint's own."""
    check_fits(model, ckpt)
    check_resumable({key: model.hparams.get(key) for key in model.hparams.keys() | ckpt.hparams.keys()}, ckpt)


def load_weights(model: nn.Module, path: str | Path) -> Checkpoint:
    """Copies the weights of checkpoint `path` into `model` (checked to fit first); returns the checkpoint."""
    ckpt = read_checkpoint(path)
    check_fits(model, ckpt)
    model.load_state_dict(ckpt.state_dict)
    return ckpt


def load_model(path: str | Path, **overrides: Any) -> nn.Module:
    """The model saved in checkpoint `path`, of whichever class it is (e.g. for evaluation in a notebook)."""
    ckpt = read_checkpoint(path)
    cls = import_class(ckpt.model_class)
    return cls.load_from_checkpoint(ckpt.path, map_location="cpu", weights_only=True, **overrides)


class LatestCheckpoint(ModelCheckpoint):
    """Keeps `last.ckpt`: the state at the end of the latest validation, whatever its score, and at the step a
    stop was asked for, to resume from.

    Lightning's own `save_last=True` writes `last.ckpt` only when a top-k checkpoint is written in the same
    step, so after an epoch that did not improve the monitored metric, `last.ckpt` is older than the run and
    a resumed run would repeat epochs. This callback saves every validation instead (replacing the file),
    next to the best-scoring checkpoint(s) of the monitoring `ModelCheckpoint`.
    """

    def __init__(self, dirpath: str | None = None) -> None:
        name = ModelCheckpoint.CHECKPOINT_NAME_LAST
        # Saved when validation ends, inside the epoch: a run stopped mid-epoch (a signal, max_steps) is then
        # saved as mid-epoch and resumes at its next batch (saved at the epoch's end, after Lightning counts
        # the epoch as done, it would resume at the next epoch). Without validation: at each epoch's end.
        super().__init__(
            dirpath=dirpath,
            filename=name,
            monitor=None,
            save_top_k=1,
            enable_version_counter=False,
            save_on_train_epoch_end=False,
        )

    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any, **kwargs: Any) -> None:
        """A stop asked for in this step (a signal, `max_time`): saves `last.ckpt` at once, before the final
        validation, so a second signal or a SIGKILL during that validation (a scheduler's grace period can be
        shorter) still leaves this step saved; the validation's end saves it again, with its results."""
        super().on_train_batch_end(trainer, pl_module, *args, **kwargs)
        if trainer.should_stop and self.dirpath and not trainer.fast_dev_run:
            self.save_now(trainer)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Without validation (`limit_val_batches=0`), saves at each epoch's end instead."""
        super().on_train_epoch_end(trainer, pl_module)
        no_validation = trainer.limit_val_batches == 0 or sum(trainer.num_val_batches or [0]) == 0
        if no_validation and self.dirpath and not trainer.fast_dev_run:
            self.save_now(trainer)

    def save_now(self, trainer: Any) -> None:
        trainer.save_checkpoint(self.path)
        self.best_model_path = self.last_model_path = str(self.path)

    @property
    def path(self) -> Path | None:
        """Where `last.ckpt` is (or will be): None until the Trainer has set the directory up."""
        return (
            Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}" if self.dirpath else None
        )


def saved_checkpoints(trainer: Any) -> dict[str, str | None]:
    """The newest checkpoint the Trainer wrote (`last`) and the best-scoring one (`best`), as paths."""
    latest = [cb for cb in trainer.checkpoint_callbacks if isinstance(cb, LatestCheckpoint)]
    scored = [cb for cb in trainer.checkpoint_callbacks if not isinstance(cb, LatestCheckpoint)]
    last = latest[0].best_model_path if latest else (scored[0].last_model_path if scored else "")
    return {"last": last or None, "best": (scored[0].best_model_path if scored else "") or None}


def checkpoint_step(path: str | Path | None) -> int | None:
    """The optimizer step checkpoint `path` was saved at; None where there is none or it cannot be read.

    A run stopped by a second signal, a crash or a failed write keeps the `last.ckpt` of an earlier step:
    this is the step a resume continues from (read with `mmap`, so a large checkpoint costs milliseconds).
    """
    if not path or not Path(path).is_file():
        return None
    try:  # any Lightning checkpoint (a user's model too), not only this library's (`read_checkpoint`)
        raw = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # damaged, or not plain data: the step is unknown
        return None
    step = raw.get("global_step") if isinstance(raw, dict) else None
    return step if isinstance(step, int) else None


class CheckpointWriteError(CheckpointError, OSError):
    """A checkpoint could not be written (a full disk, a folder made read-only): the previous one is kept."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file beside it, then renames it over the old one.

    A rename within a folder is atomic, so a write interrupted at any moment (a signal, SIGKILL, a full disk)
    leaves the previous checkpoint whole and loadable under its name; a failed write's temporary file is
    removed and the failure reported as one line.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            kept = f"{path} is kept as it was" if path.is_file() else "no earlier checkpoint is there"
            raise CheckpointWriteError(
                f"cannot write checkpoint {path} ({e.strerror or e}); {kept}; free space or fix the folder's "
                "permissions, then resume=true"
            ) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
