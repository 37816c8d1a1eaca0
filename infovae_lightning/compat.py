"""Every use of a private name of Lightning, Hydra, jsonargparse or W&B, each in one small function.

No other module of the package reaches into an upstream object's private attributes
(tests/test_compat.py greps for it). Each function says which upstream versions it was checked against, and
tests/test_compat.py has a test for each that fails when the upstream behaviour it relies on changes; the
majors named here are the upper bounds of `pyproject.toml`'s dependency ranges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.strategies.launchers import subprocess_script

ChildCommand = Callable[[int], tuple[Sequence[str], str]]


@contextmanager
def ddp_child_command(command: ChildCommand) -> Iterator[None]:
    """Within the block, Lightning's DDP launcher starts rank k of a Hydra job with `command(k)` (the command
    line and the folder to run it in) instead of re-running `sys.argv`, which in a multirun holds the sweep.

    Lightning has no public hook for it: its `_SubprocessScriptLauncher` calls the module-level
    `subprocess_script._hydra_subprocess_cmd` when Hydra is initialised. Checked with lightning 2.6.6.
    """
    lightning_command = subprocess_script._hydra_subprocess_cmd
    subprocess_script._hydra_subprocess_cmd = command
    try:
        yield
    finally:
        subprocess_script._hydra_subprocess_cmd = lightning_command


def wandb_run_started(logger: Any) -> bool:
    """Whether Lightning's `WandbLogger` holds a W&B run already (its `experiment` would not start one).

    The public `experiment` property starts a run when there is none, so asking it would start one.
    `WandbLogger._experiment` is None until then. Checked with lightning 2.6.6, wandb 0.31.0.
    """
    return logger._experiment is not None


def wandb_go_offline(logger: Any) -> None:
    """Makes Lightning's `WandbLogger` start its next run offline, as if it had been built with
    `offline=True` (after an online start failed: there is no public way to change the mode afterwards).

    Sets `_offline` (Lightning then sets WANDB_MODE=dryrun), the `mode` of the `_wandb_init` arguments it
    passes to `wandb.init`, and forgets any run (`_experiment`). Checked with lightning 2.6.6, wandb
    0.31.0.
    """
    logger._offline = True
    logger._wandb_init["mode"] = "offline"
    logger._experiment = None


class LightningCLIWithoutCheckpointHparams(LightningCLI):
    """`LightningCLI` without its merge of a `--ckpt_path`'s hyperparameters into the parsed config.

    Since lightning 2.5.5, `LightningCLI.__init__` calls `_parse_ckpt_path` between `parse_arguments` and
    `before_instantiate_classes`, letting a checkpoint's values silently win over the command line; there is
    no public switch to turn it off. The run core merges them with its checks instead (see `run.cli`).
    Checked with lightning 2.6.6.
    """

    def _parse_ckpt_path(self) -> None:
        return None


def given_values(parser: Any, args: Any) -> Any:
    """The values `args` (a command line, or a dict / Namespace) sets, as a jsonargparse Namespace without
    the parser's defaults: what the user gave, to tell it apart from what a checkpoint supplies.

    Parsing without defaults leaves required values unset, which jsonargparse's validation refuses; its
    `parse_args` / `parse_object` take a private `_skip_validation` flag for it. Checked with jsonargparse
    4.53.0.
    """
    if isinstance(args, dict) or type(args).__name__ == "Namespace":
        return parser.parse_object(args, defaults=False, _skip_validation=True)
    return parser.parse_args(args, defaults=False, _skip_validation=True)
