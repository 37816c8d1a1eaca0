"""The run core: the rules `train.py` (Hydra) and `infovae fit/validate/test/predict` (the Lightning CLI)
share, stated once.

- **Errors**: a value a component refuses, a checkpoint that cannot be read, an unknown data set: one
  `InfoVAEError` naming the config key (`model`, `data`, `ckpt_path`, `model.init_from`), printed by each
  entry point as one `error:` line (`exit_with`).
- **Data defaults**: a model's input shape and likelihood follow the data set unless given.
- **Checkpoints**, two ways (see `run.checkpoints`): resume (`ckpt_path`) continues a run with its own
  hyperparameters; fine-tune (`model.init_from`) starts a new run from its weights with the values given now.
  `checkpoint_init_args` is the CLI's merge of a checkpoint's hyperparameters with those given; `check_resume`
  (resume) and `check_fits` (fine-tune) are the checks both entry points run on the model they built.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from lightning.pytorch.utilities.exceptions import MisconfigurationException

from infovae_lightning.data import input_shape, likelihood_defaults
from infovae_lightning.data.errors import one_line
from infovae_lightning.errors import CheckpointError, ConfigError, InfoVAEError
from infovae_lightning.nets import DEFAULT_COMPONENTS
from infovae_lightning.run.checkpoints import (
    Checkpoint,
    check_fits,
    check_resumable,
    check_same_run,
    read_checkpoint,
    upgrade_hparams,
)

# --- errors ----------------------------------------------------------------------------------------------


def refusal(key: str, error: BaseException) -> InfoVAEError | None:
    """The one-line error for `error`, raised while building the component configured under `key`; None
    when it is not a refusal of a value (a bug, which keeps its traceback)."""
    if isinstance(error, InfoVAEError):
        return error
    if isinstance(error, ValueError | TypeError | MisconfigurationException):
        return ConfigError(f"{key}: {one_line(error, 400)}")
    return None


def exit_with(error: InfoVAEError | str, code: int = 1) -> NoReturn:
    """Ends the process with `error` as one `error:` line on stderr: a user-fixable problem, no traceback."""
    print(f"error: {error}", file=sys.stderr)
    sys.exit(code)


def read_checkpoint_at(key: str, path: str) -> Checkpoint:
    """`read_checkpoint`, with a missing or unreadable file reported under the key that named it."""
    try:
        return read_checkpoint(path)
    except CheckpointError as e:
        raise CheckpointError(f"{key}: {e}") from None


# --- data defaults ---------------------------------------------------------------------------------------


def data_shape(name: str) -> list[int]:
    """The shape of one example of data set `name`; an unknown name is a `ConfigError` under `data`."""
    try:
        return list(input_shape(name))
    except ValueError as e:
        raise ConfigError(f"data: {e}") from None


def data_defaults(name: str, binarize: Any, decoder: str) -> tuple[list[int], dict[str, Any]]:
    """A model's `input_shape` and `likelihood` for data set `name` (as `binarize`d) and decoder `decoder`,
    when not given: the data's shape and natural likelihood. (`train.py` gets the same from the schema's
    resolvers, `run.config`.)"""
    shape = data_shape(name)
    try:
        likelihood = likelihood_defaults(name, binarize, decoder)
    except ValueError as e:
        raise ConfigError(f"data: {e}") from None
    return shape, {**likelihood, "components": DEFAULT_COMPONENTS}


# --- checkpoints -----------------------------------------------------------------------------------------


def checkpoint_init_args(
    ckpt: Checkpoint, given: dict[str, Any], resume: bool, prefix: str, resuming: str | None = None
) -> dict[str, Any]:
    """A model's arguments when a checkpoint supplies it, from its hyperparameters and those `given`.

    resume: the checkpoint's values, none of them changed (one given that differs is a `CheckpointError`),
    but where it was initialised from and whether it compiles (how the model runs) may change.
    fine-tune: the checkpoint's values are the defaults and those given win; what to freeze is a choice of the
    new run, not inherited. A checkpoint of an earlier version gets the values that reproduce how it ran for
    the hyperparameters added since (`upgrade_hparams`). `prefix` and `resuming`: how the entry point spells
    keys and names the resume."""
    saved = upgrade_hparams(ckpt.hparams)
    if resume:
        check_resumable(given, ckpt, prefix=prefix, resuming=resuming)
        init_args = {**saved, "init_from": given.get("init_from")}
        if "compile" in given:
            init_args["compile"] = given["compile"]
        return init_args
    return {**saved, "freeze": None, **given}


def check_not_past(ckpt: Checkpoint, max_epochs: int | None) -> None:
    """A resumed run must not end before its checkpoint (Lightning refuses it only once it restores)."""
    if ckpt.epoch is not None and max_epochs not in (None, -1) and ckpt.epoch > max_epochs:
        raise ConfigError(
            f"trainer.max_epochs={max_epochs}, but {ckpt.path} was saved in epoch {ckpt.epoch}; "
            f"resume with trainer.max_epochs >= {ckpt.epoch}"
        )


def check_resume(model: Any, ckpt: Checkpoint, max_epochs: int | None, hparams: bool = True) -> None:
    """Resuming `ckpt` with `model`: it fits, with the same hyperparameters (`hparams=False` when the model
    was built from the checkpoint's, as the CLI does), and the run does not end before the checkpoint."""
    if hparams:
        check_same_run(model, ckpt)
    else:
        check_fits(model, ckpt)
    check_not_past(ckpt, max_epochs)
