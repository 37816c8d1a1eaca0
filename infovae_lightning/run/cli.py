"""`infovae`: the Lightning CLI over the same models and DataModule as `train.py`, for fitting, fine-tuning,
resuming, evaluating and predicting from checkpoints.

    infovae fit --model MMDVAE --model.latent_dim 5 --data.name toy --trainer.max_epochs 20
    infovae fit --model.init_from run.ckpt --model.lam 10 --model.freeze encoder --data.name toy   # fine-tune
    infovae fit --config <log dir>/config.yaml --ckpt_path <log dir>/checkpoints/last.ckpt           # resume
    infovae test --ckpt_path run.ckpt --data.name toy
    infovae predict --ckpt_path run.ckpt --data.name toy --data.predict_split val --prediction.path z.npz
    infovae report multirun/<task>/<time>            # a sweep's report (infovae_lightning.report)

Checkpoints, data defaults, checks and `error:` lines follow the run core's rules (`run.core`), as in
`train.py`, and their checkpoints are interchangeable: `--ckpt_path` resumes (or, for validate/test/predict,
uses) a checkpoint with its own class and hyperparameters, a different one given is an error (Lightning
≥ 2.5.5 would let the checkpoint's win silently); `--model.init_from` fine-tunes with the values given now.
"""

from __future__ import annotations

import re
import sys
import traceback
from argparse import ArgumentError
from typing import Any

from jsonargparse import Namespace
from lightning import LightningDataModule, LightningModule
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser

from infovae_lightning.compat import LightningCLIWithoutCheckpointHparams, given_values
from infovae_lightning.data import InfoVAEDataModule
from infovae_lightning.errors import CheckpointError, ConfigError, InfoVAEError
from infovae_lightning.models import MMDVAE, InfoVAE
from infovae_lightning.nets.registry import decoder_name
from infovae_lightning.run import core
from infovae_lightning.run.checkpoints import (
    Checkpoint,
    LatestCheckpoint,
    check_fits,
    class_path,
    import_class,
)
from infovae_lightning.run.predict import PredictionWriter
from infovae_lightning.run.preflight import check_values, load_data_early
from infovae_lightning.run.seeding import BatchSeeding

DESCRIPTION = (
    "InfoVAE models with the Lightning CLI: fit, validate, test, predict. "
    "Also: `infovae report <sweep dir> [--out DIR]` writes a sweep's report (report.md, report.csv, "
    "figures); see `infovae report --help`."
)
REPORT = "report"  # not a Lightning subcommand: handled before LightningCLI parses anything
CALLBACKS = {  # the callbacks the CLI adds, by config key
    "checkpoint": ModelCheckpoint,
    "last_checkpoint": LatestCheckpoint,
    "batch_seeding": BatchSeeding,
    "prediction": PredictionWriter,
}


class InfoVAECLI(LightningCLIWithoutCheckpointHparams):
    """The Lightning CLI over the run core (`run.core`): its checkpoint rules, data defaults and errors."""

    def __init__(self, args: list[str] | None = None, run: bool = True, **kwargs: Any) -> None:
        self.from_checkpoint: Checkpoint | None = None  # the checkpoint that supplied the model, if any
        super().__init__(
            InfoVAE,
            InfoVAEDataModule,
            subclass_mode_model=True,
            # Hyperparameters saved as `__init__` receives them (plain values), as train.py saves them.
            load_from_checkpoint_support=False,
            save_config_kwargs={"overwrite": True},
            seed_everything_default=0,
            # Parse errors are raised (not printed with the whole usage): `main` reports them in one line.
            parser_kwargs={
                "description": DESCRIPTION,
                "exit_on_error": False,
                **{name: {"exit_on_error": False} for name in self.subcommands()},
            },
            args=args,
            run=run,
            **kwargs,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        for key, cls in CALLBACKS.items():
            parser.add_lightning_class_args(cls, key)
        parser.set_defaults(
            {
                "model": {"class_path": class_path(MMDVAE)},
                "data.name": "toy",
                "checkpoint.monitor": "val/loss",
                "checkpoint.filename": "epoch{epoch:03d}-step{step:06d}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        self.given = given_values(parser, args)  # exactly the values the user gave (command line, files)
        self.model_from_checkpoint()

    def given_model(self, subcommand: str) -> tuple[str | None, dict[str, Any]]:
        """The model class and init arguments the user gave (the class only if named, not the default)."""
        model = self.given.get(subcommand, Namespace()).get("model") or {}
        model = model.as_dict() if isinstance(model, Namespace) else model
        given_class = model.get("class_path")
        if given_class is not None and import_class(given_class) is InfoVAE:
            given_class = None  # jsonargparse fills in the base class when only init args are given
        return given_class, dict(model.get("init_args") or {})

    def model_from_checkpoint(self) -> None:
        """With `--ckpt_path` or (fit) `--model.init_from`, the checkpoint supplies the model: its class, and
        its hyperparameters merged with those given as the run core says (`core.checkpoint_init_args`)."""
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        given_class, given = self.given_model(subcommand)
        ckpt_path = self.config[subcommand].get("ckpt_path")
        init_from = given.get("init_from") if subcommand == "fit" else None
        if not ckpt_path and not init_from:
            return
        ckpt = core.read_checkpoint_at(
            "ckpt_path" if ckpt_path else "model.init_from", ckpt_path or init_from
        )
        if given_class and import_class(given_class) is not import_class(ckpt.model_class):
            raise CheckpointError(f"{ckpt.path} holds a {ckpt.class_name}, not the --model {given_class}")
        lead = f"--ckpt_path {ckpt.path} continues that run with its own hyperparameters"
        init_args = core.checkpoint_init_args(ckpt, given, bool(ckpt_path), "--model.", lead)
        model = {"class_path": ckpt.model_class, "init_args": init_args}
        self.config = self.parser.parse_object({subcommand: {"model": model}}, self.config)
        self.from_checkpoint = ckpt

    def before_instantiate_classes(self) -> None:
        if not self.subcommand:
            return
        config = self.config[self.subcommand]
        if import_class(config.model.class_path) is InfoVAE:
            raise ConfigError("choose a model: --model ELBOVAE, MMDVAE, SteinVAE or AdversarialAE")
        check_values(config)  # the trainer settings train.py's pre-flight refuses
        data, args, ckpt = config.data, config.model.init_args, self.from_checkpoint
        shape, likelihood = core.data_defaults(data.name, data.binarize, decoder_name(_as_dict(args.net)))
        if ckpt is None:  # as train.py: the input shape and natural likelihood of the data, unless given
            given = self.given_model(self.subcommand)[1]
            args.input_shape = given.get("input_shape", shape)
            args.likelihood = given.get("likelihood", likelihood)
        elif list(args.input_shape) != shape:
            raise CheckpointError(
                f"{ckpt.path} was trained on inputs of shape {list(args.input_shape)}, "
                f"but data.name={data.name} gives {shape}"
            )

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except InfoVAEError:
            raise
        except Exception as e:  # a value a component refuses: one line naming its key, as train.py's
            inner = _innermost(e)
            error = core.refusal(built_by(inner), inner)
            if error is None:
                raise
            raise error from None

    def after_instantiate_classes(self) -> None:
        if not self.subcommand:
            return
        if (ckpt := self.from_checkpoint) is not None:
            if self.subcommand == "fit" and self.config.fit.get("ckpt_path"):  # hyperparameters checked above
                core.check_resume(self.model, ckpt, self.trainer.max_epochs, hparams=False)
            else:
                check_fits(self.model, ckpt)
        # Missing, corrupt or truncated data files are reported before the loggers write anything.
        load_data_early(self.datamodule, self.subcommand)


def _as_dict(value: Any) -> Any:
    """A jsonargparse `Namespace` as a plain dict (a nested `net`, say); anything else as it is."""
    return value.as_dict() if isinstance(value, Namespace) else value


def built_by(error: BaseException) -> str:
    """The config key of the component whose `__init__` raised `error`: model, data, a callback's, trainer."""
    for frame, _ in traceback.walk_tb(error.__traceback__):
        built = frame.f_locals.get("self") if frame.f_code.co_name == "__init__" else None
        keys = [key for key, cls in CALLBACKS.items() if type(built) is cls]
        keys += [
            key
            for cls, key in ((LightningModule, "model"), (LightningDataModule, "data"))
            if isinstance(built, cls)
        ]
        if keys:
            return keys[0]
    return "trainer"


def _innermost(error: BaseException) -> BaseException:
    """The original error under the ones jsonargparse wraps around it."""
    while (error.__cause__ or error.__context__) is not None:
        error = error.__cause__ or error.__context__
    return error


# Lines of jsonargparse's messages that say nothing about what was wrong.
_NOISE = re.compile(
    r"Does not validate against any of the Union subtypes|^Subtypes:|^Errors:|NoneType|^Given value|"
    r"Problem with given class_path"
)


def _one_line(message: str) -> str:
    """jsonargparse's multi-line parse error as one line: the key, then what was wrong with it."""
    lines = [line.strip(" -") for line in message.splitlines()]
    text = " ".join(line for line in lines if line and not _NOISE.search(line))
    return re.sub(r'Parser key "([\w.]+)":', r"\1:", text)


def main(args: list[str] | None = None) -> None:
    """The `infovae` console script."""
    from infovae_lightning.run.quiet import quiet_third_party

    quiet_third_party()
    argv = sys.argv[1:] if args is None else list(args)
    if argv[:1] == [REPORT]:
        from infovae_lightning.report.cli import main as report

        status = report(argv[1:], prog="infovae report")
        if status:
            sys.exit(status)
        return
    try:
        InfoVAECLI(args)
    except InfoVAEError as error:
        core.exit_with(error)
    except ArgumentError as error:
        core.exit_with(f"{_one_line(str(error))} (see infovae <subcommand> --help)", code=2)


if __name__ == "__main__":
    main()
