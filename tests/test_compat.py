"""The private upstream API the package relies on (`infovae_lightning.compat`): each use still does what it
did, the logging decision rebuilt from public API equals Lightning's own, and nothing else reaches inside an
upstream object. A failure here after an upgrade names the function of `compat` to revisit."""

from __future__ import annotations

import importlib
import inspect
import io
import os
import re
import textwrap
import tokenize
from argparse import ArgumentError
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.cli import LightningCLI

from infovae_lightning import compat
from infovae_lightning.data import InfoVAEDataModule
from infovae_lightning.models import MMDVAE, AdversarialAE
from infovae_lightning.models.base import reaches_loggers

PACKAGE = Path(compat.__file__).parent
UPSTREAM = ("lightning", "hydra", "jsonargparse", "wandb")


# --- the logging decision (models.base.reaches_loggers): public API, Lightning's answer -----------------


class Decisions(Callback):
    """Records, before each training batch, our decision and Lightning's private one."""

    def __init__(self) -> None:
        self.pairs: list[tuple[int, bool, bool]] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        ours = reaches_loggers(trainer, pl_module.optimizer_steps_per_batch())
        self.pairs.append((trainer.global_step, ours, trainer._logger_connector.should_update_logs))


def tiny(cls: type) -> Any:
    return cls(
        latent_dim=1, input_shape=[1], net={"name": "mlp", "hidden": [8]}, likelihood={"name": "gaussian"}
    )


def fit(model: Any, root: Path, ckpt_path: str | None = None, **trainer: Any) -> Decisions:
    decisions = Decisions()
    callbacks = [decisions, *trainer.pop("callbacks", [])]
    L.Trainer(
        default_root_dir=root,
        logger=False,
        enable_checkpointing=any(isinstance(cb, ModelCheckpoint) for cb in callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=callbacks,
        **trainer,
    ).fit(model, datamodule=InfoVAEDataModule(name="toy", toy_size=140, batch_size=10), ckpt_path=ckpt_path)
    return decisions


def check_agree(decisions: Decisions) -> None:
    assert decisions.pairs, "no training batch ran"
    disagree = [(step, ours, theirs) for step, ours, theirs in decisions.pairs if ours != theirs]
    assert not disagree, f"(global_step, ours, Lightning's): {disagree}"
    assert {theirs for _, _, theirs in decisions.pairs} == {True, False}  # both answers were put to the test


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (MMDVAE, {}),
        (AdversarialAE, {}),  # manual optimization: two optimizer steps a batch
        (MMDVAE, {"accumulate_grad_batches": 2}),
    ],
)
def test_the_logging_decision_is_lightnings_on_every_step(cls: type, options: dict, tmp_path: Path) -> None:
    # 14 batches an epoch: logging every 3rd batch does not restart with the epochs.
    check_agree(fit(tiny(cls), tmp_path, max_epochs=3, log_every_n_steps=3, **options))


def test_the_logging_decision_is_lightnings_after_a_resume(tmp_path: Path) -> None:
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=5, save_top_k=-1)
    fit(tiny(MMDVAE), tmp_path, max_steps=19, log_every_n_steps=3, callbacks=[saving])
    mid_epoch = tmp_path / "ckpt" / "epoch=1-step=15.ckpt"  # batch 1 of epoch 1
    assert mid_epoch.is_file(), sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    check_agree(fit(tiny(MMDVAE), tmp_path, ckpt_path=str(mid_epoch), max_steps=40, log_every_n_steps=3))


# --- compat.ddp_child_command ---------------------------------------------------------------------------


def test_lightnings_ddp_launcher_starts_a_hydra_jobs_ranks_with_our_command(monkeypatch) -> None:
    from hydra.core.hydra_config import HydraConfig
    from lightning.fabric.plugins.environments import LightningEnvironment
    from lightning.pytorch.strategies.launchers import subprocess_script

    started = []
    monkeypatch.setattr(
        subprocess_script.subprocess, "Popen", lambda cmd, env, cwd: started.append((cmd, cwd))
    )
    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    monkeypatch.setattr(os, "environ", dict(os.environ))  # the launcher sets MASTER_PORT, WORLD_SIZE...
    launcher = subprocess_script._SubprocessScriptLauncher(
        LightningEnvironment(), num_processes=3, num_nodes=1
    )
    lightnings = subprocess_script._hydra_subprocess_cmd
    with compat.ddp_child_command(lambda rank: ([f"rank{rank}"], "/the/job")):
        launcher._call_children_scripts()
    assert started == [(["rank1"], "/the/job"), (["rank2"], "/the/job")]
    assert subprocess_script._hydra_subprocess_cmd is lightnings  # restored


# --- compat.wandb_run_started, compat.wandb_go_offline --------------------------------------------------


def test_wandb_logger_starts_offline_after_go_offline(tmp_path: Path, monkeypatch) -> None:
    import wandb
    from lightning.pytorch.loggers import WandbLogger

    inits = []
    run = type("Run", (), {"id": "r1", "name": "r1"})()
    monkeypatch.setattr(wandb, "init", lambda **kwargs: (inits.append(kwargs), run)[1])
    monkeypatch.setattr(wandb, "run", None)
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if k != "WANDB_MODE"})
    logger = WandbLogger(project="p", save_dir=str(tmp_path), offline=False)
    assert not compat.wandb_run_started(logger)
    compat.wandb_go_offline(logger)
    assert logger.experiment is run and compat.wandb_run_started(logger)
    assert [kwargs["mode"] for kwargs in inits] == ["offline"] and os.environ["WANDB_MODE"] == "dryrun"


# --- compat.LightningCLIWithoutCheckpointHparams ---------------------------------------------------------


class Lam(L.LightningModule):
    def __init__(self, lam: float = 1.0) -> None:
        super().__init__()
        self.save_hyperparameters()


class Parsed(Exception):
    pass


def parsed_lam(cli_class: type[LightningCLI], ckpt: Path) -> float:
    """The λ a CLI of `cli_class` is about to build its model with, for `validate --ckpt_path ckpt
    --model.lam 2`."""

    class Probe(cli_class):  # type: ignore[misc, valid-type]
        def before_instantiate_classes(self) -> None:
            raise Parsed(self.config.validate.model.lam)

    with pytest.raises(Parsed) as parsed:
        Probe(Lam, args=["validate", "--ckpt_path", str(ckpt), "--model.lam", "2"], save_config_callback=None)
    return parsed.value.args[0]


def test_lightning_cli_merges_a_checkpoints_hparams_unless_turned_off(tmp_path: Path) -> None:
    ckpt = tmp_path / "lam5.ckpt"
    torch.save({"hyper_parameters": {"lam": 5.0}, "state_dict": {}}, ckpt)
    assert parsed_lam(LightningCLI, ckpt) == 5.0  # Lightning's merge: the checkpoint wins, silently
    assert parsed_lam(compat.LightningCLIWithoutCheckpointHparams, ckpt) == 2.0


# --- compat.given_values --------------------------------------------------------------------------------


def test_given_values_are_those_given_without_defaults_or_validation() -> None:
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--required", type=int, required=True)
    parser.add_argument("--lam", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=0.1)
    for args in (["--lam", "2"], {"lam": 2.0}):
        assert compat.given_values(parser, args).as_dict() == {"lam": 2.0}
    with pytest.raises(ArgumentError):  # what the private flag is for: the required value is missing
        parser.parse_args(["--lam", "2"], defaults=False)


# --- no private upstream API outside compat --------------------------------------------------------------


def upstream_names(cls: type) -> set[str]:
    """The private names `cls` gets from upstream base classes: their attributes and what their code sets
    on `self`."""
    names: set[str] = set()
    for base in cls.__mro__:
        if base.__module__.split(".")[0] in UPSTREAM:
            names |= {name for name in vars(base) if name.startswith("_")}
            try:
                names |= set(re.findall(r"self\.(_[a-z]\w*)", inspect.getsource(base)))
            except (OSError, TypeError):
                pass
    return names


def private_accesses(source: str) -> list[tuple[str, str]]:
    """(receiver, attribute) for each `receiver._attribute` in code (not in strings or comments), and
    ("call", name) for each private keyword argument `f(..., _name=...)` (Hydra's `_convert_`-style keys,
    which end in `_`, are public)."""
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type != tokenize.NL]
    found = []
    for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False):
        if a.type == tokenize.NAME and b.string == "." and re.fullmatch(r"_[a-z]\w*", c.string):
            found.append((a.string, c.string))
        elif a.string in ("(", ",") and re.fullmatch(r"_[a-z]\w*[^_]", b.string) and c.string == "=":
            found.append(("call", b.string))
    return found


def test_no_private_upstream_api_outside_compat() -> None:
    """Outside compat, `x._name` is only our own: `self._name` of a class whose upstream bases have no
    `_name`, never another object's."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).with_suffix("").as_posix()
        if where == "compat":
            continue
        source = path.read_text()
        found += [f"{where}: {r}.{n}" for r, n in private_accesses(source) if r not in ("self", "cls")]
        if path.name == "__main__.py":  # importing it would run it
            continue
        name = "infovae_lightning." + where.replace("/", ".").removesuffix(".__init__")
        module = importlib.import_module(name.removesuffix("__init__").rstrip("."))
        for cls in vars(module).values():
            if isinstance(cls, type) and cls.__module__ == module.__name__:
                try:
                    class_source = textwrap.dedent(inspect.getsource(cls))
                except OSError:  # generated (the Hydra schemas): no source of its own to scan
                    continue
                clashes = upstream_names(cls)
                found += [
                    f"{where}: {cls.__name__}: self.{name}"
                    for receiver, name in private_accesses(class_source)
                    if receiver in ("self", "cls") and name in clashes
                ]
    assert not found, "private upstream API outside infovae_lightning/compat.py: " + ", ".join(found)


def test_the_scan_sees_private_upstream_api() -> None:
    """The check above finds both kinds of use (it would pass on anything otherwise)."""
    from lightning.pytorch.loggers import WandbLogger

    assert "_experiment" in upstream_names(type("Logger", (WandbLogger,), {}))
    assert "_trainer" in upstream_names(type("Model", (L.LightningModule,), {}))
    code = "trainer._logger_connector.x\nself._experiment = 1  # self._not_code\n'a._b'\n"
    code += "f(a, _skip_validation=True, _convert_='all')\n"
    expected = [("trainer", "_logger_connector"), ("self", "_experiment"), ("call", "_skip_validation")]
    assert private_accesses(code) == expected
