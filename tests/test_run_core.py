"""The run core's rules, which train.py and the CLI share: refusals as one line, resume vs fine-tune."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from infovae_lightning.errors import CheckpointError, ConfigError, NonFiniteLossError
from infovae_lightning.run import core
from infovae_lightning.run.checkpoints import Checkpoint

CKPT = Checkpoint(
    Path("run.ckpt"),
    "infovae_lightning.models.mmd.MMDVAE",
    {
        "latent_dim": 2,
        "lam": 1000.0,
        "lam_warmup_steps": 0,
        "weight_decay": 0.0,
        "weight_decay_nets": ["encoder", "decoder"],
        "std_init": None,
        "freeze": "encoder",
        "init_from": "a",
        "compile": False,
    },
    {"w": torch.zeros(1)},
    epoch=5,
)


def test_a_refused_value_is_one_line_under_its_key_and_a_bug_is_not() -> None:
    error = core.refusal("model", ValueError("latent_dim must be > 0,\n  got 0"))
    assert isinstance(error, ConfigError) and str(error) == "model: latent_dim must be > 0, got 0"
    ours = NonFiniteLossError("non-finite loss")
    assert core.refusal("model", ours) is ours  # already says what is wrong
    assert core.refusal("model", KeyError("x")) is None


def test_resume_keeps_the_checkpoints_values_and_refuses_others() -> None:
    args = core.checkpoint_init_args(CKPT, {"lam": 1000.0, "compile": True}, True, "--model.")
    assert args == {**CKPT.hparams, "init_from": None, "compile": True}
    with pytest.raises(CheckpointError, match=r"--model.lam=10.0 differs from its 1000.0.*--model.init_from"):
        core.checkpoint_init_args(CKPT, {"lam": 10.0}, True, "--model.")


def test_fine_tune_takes_the_given_values_and_does_not_inherit_freeze() -> None:
    args = core.checkpoint_init_args(CKPT, {"lam": 10.0, "init_from": "run.ckpt"}, False, "--model.")
    assert args == {**CKPT.hparams, "lam": 10.0, "freeze": None, "init_from": "run.ckpt"}


def test_a_checkpoint_of_an_earlier_version_runs_as_it_did() -> None:
    old = Checkpoint(Path("old.ckpt"), CKPT.model_class, {"latent_dim": 2, "lam": 1000.0}, CKPT.state_dict)
    for resume in (True, False):
        assert core.checkpoint_init_args(old, {}, resume, "--model.")["lam_warmup_steps"] == 0  # no warm-up


def test_a_resumed_run_may_not_end_before_its_checkpoint() -> None:
    with pytest.raises(ConfigError, match="trainer.max_epochs=3, but run.ckpt was saved in epoch 5"):
        core.check_not_past(CKPT, 3)
    for max_epochs in (5, -1, None):
        core.check_not_past(CKPT, max_epochs)


def test_data_defaults_and_unknown_data_sets() -> None:
    shape, likelihood = core.data_defaults("toy", "none", "mlp")
    assert shape == [1] and likelihood["name"] == "gaussian"
    with pytest.raises(ConfigError, match="^data: unknown data set 'svhn'"):
        core.data_defaults("svhn", "none", "mlp")
