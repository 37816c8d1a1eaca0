"""`infovae`: the Lightning CLI over the same models and DataModule as `train.py`, for fitting, fine-tuning,
resuming, evaluating and predicting from checkpoints.

    infovae fit --model MMDVAE --model.latent_dim 5 --data.name toy --trainer.max_epochs 20
    infovae fit --model.init_from run.ckpt --model.lam 10 --model.freeze encoder --data.name toy   # fine-tune
    infovae fit --config <log dir>/config.yaml --ckpt_path <log dir>/checkpoints/last.ckpt           # resume
    infovae test --ckpt_path run.ckpt --data.name toy
    infovae predict --ckpt_path run.ckpt --data.name toy --data.predict_split val --prediction.path z.npz
    infovae report multirun/<task>/<time>            # a sweep's report (infovae_lightning.report)

How a checkpoint meets the command line (Lightning ≥ 2.5.5 silently lets a checkpoint's hyperparameters win
over the command line; here nothing is silent):

- `--ckpt_path` (fit: resume; validate/test/predict: the weights to use) takes the model class and every
  hyperparameter from the checkpoint. One given on the command line or in a config file that differs from the
  checkpoint's is an error that points to `--model.init_from`.
- `--model.init_from` (fit) starts a new run from the checkpoint's weights: its class and hyperparameters are
  the defaults, those given now win (a new λ is the λ used), and the architecture must match.
- Without a checkpoint, `input_shape` and the likelihood follow the data set as in `train.py`; the model class
  defaults to MMDVAE. Checkpoints written by `train.py` and by this CLI are interchangeable.
"""

from __future__ import annotations

import re
import sys
from argparse import ArgumentError
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from infovae_lightning.data import InfoVAEDataModule, input_shape, likelihood_defaults
from infovae_lightning.errors import CheckpointError, ConfigError, InfoVAEError
from infovae_lightning.models import MMDVAE, InfoVAE
from infovae_lightning.nets import DEFAULT_COMPONENTS
from infovae_lightning.run.checkpoints import (
    Checkpoint,
    LatestCheckpoint,
    check_fits,
    check_resumable,
    class_path,
    import_class,
    read_checkpoint,
)
from infovae_lightning.run.predict import PredictionWriter
from infovae_lightning.run.preflight import load_data_early
from infovae_lightning.run.seeding import BatchSeeding

DESCRIPTION = (
    "InfoVAE models with the Lightning CLI: fit, validate, test, predict. "
    "Also: `infovae report <sweep dir> [--out DIR]` writes a sweep's report (report.md, report.csv, "
    "figures); see `infovae report --help`."
)
REPORT = "report"  # not a Lightning subcommand: handled before LightningCLI parses anything


def _as_dict(value: Any) -> Any:
    return value.as_dict() if isinstance(value, Namespace) else value


class InfoVAECLI(LightningCLI):
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
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "model": {"class_path": class_path(MMDVAE)},
                "data.name": "toy",
                "checkpoint.monitor": "val/loss",
                "checkpoint.filename": "epoch{epoch:03d}-step{step:06d}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        parser.add_lightning_class_args(LatestCheckpoint, "last_checkpoint")
        parser.add_lightning_class_args(BatchSeeding, "batch_seeding")
        parser.add_lightning_class_args(PredictionWriter, "prediction")

    # --- parsing: what was given, what a checkpoint provides ---------------------------------------------

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        # The same arguments without defaults: exactly the values the user gave (command line, config files).
        if isinstance(args, dict | Namespace):
            self.given = parser.parse_object(args, defaults=False, _skip_validation=True)
        else:
            self.given = parser.parse_args(args, defaults=False, _skip_validation=True)

    def _given_model(self, subcommand: str) -> tuple[str | None, dict[str, Any]]:
        """The model class and init arguments the user gave (the class only if named, not the default)."""
        model = _as_dict(self.given.get(subcommand, Namespace()).get("model")) or {}
        given_class = model.get("class_path")
        if given_class is not None and import_class(given_class) is InfoVAE:
            given_class = None  # jsonargparse fills in the base class when only init args are given
        return given_class, dict(model.get("init_args") or {})

    def _parse_ckpt_path(self) -> None:
        """Replaces Lightning's: the checkpoint supplies the model, without overriding anything silently."""
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        config = self.config[subcommand]
        given_class, given = self._given_model(subcommand)
        ckpt_path = config.get("ckpt_path")
        init_from = given.get("init_from") if subcommand == "fit" else None
        if not ckpt_path and not init_from:
            return
        ckpt = read_checkpoint(ckpt_path or init_from)
        if given_class and import_class(given_class) is not import_class(ckpt.model_class):
            raise CheckpointError(f"{ckpt.path} holds a {ckpt.class_name}, not the --model {given_class}")
        if ckpt_path:
            # The checkpoint's values, none of them changed.
            lead = f"--ckpt_path {ckpt.path} continues that run with its own hyperparameters"
            check_resumable(given, ckpt, prefix="--model.", resuming=lead)
            init_args = {**ckpt.hparams, "init_from": given.get("init_from")}
            if "compile" in given:  # how the model runs may change on resume (NOT_COMPARED)
                init_args["compile"] = given["compile"]
        else:
            # Fine-tune: the values given now win; what to freeze is a choice of this run, not inherited.
            init_args = {**ckpt.hparams, "freeze": None, **given}
        model = {"class_path": ckpt.model_class, "init_args": init_args}
        self.config = self.parser.parse_object({subcommand: {"model": model}}, self.config)
        self.from_checkpoint = ckpt

    def before_instantiate_classes(self) -> None:
        if not self.subcommand:
            return
        config = self.config[self.subcommand]
        if import_class(config.model.class_path) is InfoVAE:
            raise ConfigError("choose a model: --model ELBOVAE, MMDVAE, SteinVAE or AdversarialAE")
        _, given = self._given_model(self.subcommand)
        ckpt = self.from_checkpoint
        data = config.data
        try:
            shape = list(input_shape(data.name))
            likelihood = likelihood_defaults(data.name, data.binarize, config.model.init_args.net["name"])
        except ValueError as e:
            raise ConfigError(f"data: {e}") from None
        args = config.model.init_args
        if ckpt is None:
            # As train.py: the input shape and the natural likelihood of the data, unless given.
            if "input_shape" not in given:
                args.input_shape = shape
            if "likelihood" not in given:
                args.likelihood = {**likelihood, "components": DEFAULT_COMPONENTS}
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
        except (ValueError, TypeError) as e:  # a value a model or the DataModule refuses
            raise ConfigError(str(_innermost(e))) from None

    def after_instantiate_classes(self) -> None:
        if not self.subcommand:
            return
        if self.subcommand == "fit" and self.model.hparams.init_from and not self.config.fit.get("ckpt_path"):
            check_fits(self.model, self.from_checkpoint)  # read while parsing (`_parse_ckpt_path`)
        # Missing, corrupt or truncated data files are reported before the loggers write anything.
        load_data_early(self.datamodule, self.subcommand)


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
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except ArgumentError as error:
        print(f"error: {_one_line(str(error))} (see infovae <subcommand> --help)", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
