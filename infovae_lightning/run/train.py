"""The Hydra entry point: compose the config, check it, instantiate everything, fit, write summary.json.

`python train.py ...` (repository root) and the `infovae-train` console script both land in `main`.

Order matters for users: everything that can be checked without training (values, names, checkpoints, the
data files) is checked before anything is written, so a bad input costs one `error:` line and leaves no run
directory behind. In a multirun the failed job's directory is kept, with the error in its `summary.json` and
`train.log`, and the other jobs go on.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from infovae_lightning.errors import ConfigError, InfoVAEError, NonFiniteLossError
from infovae_lightning.metrics import Evaluator
from infovae_lightning.run.checkpoints import (
    AtomicCheckpointIO,
    LatestCheckpoint,
    check_fits,
    checkpoint_step,
    saved_checkpoints,
)
from infovae_lightning.run.closing import closing_lines
from infovae_lightning.run.config import CONFIG_DIR  # importing it registers the schemas and resolvers
from infovae_lightning.run.core import check_resume, data_shape, exit_with, read_checkpoint_at, refusal
from infovae_lightning.run.final_evaluation import FinalValidation, finish_fit
from infovae_lightning.run.jobs import isolated_job, place_job, wait_for_ranks
from infovae_lightning.run.loggers import finish_runs, record_config
from infovae_lightning.run.metric_schemas import register_metric_schemas  # noqa: F401  (registers at import)
from infovae_lightning.run.override_check import override_error
from infovae_lightning.run.preemption import Interrupted, Preemption
from infovae_lightning.run.preflight import check_metrics, check_values, load_data_early
from infovae_lightning.run.provenance import provenance
from infovae_lightning.run.quiet import quiet_third_party
from infovae_lightning.run.run_lock import locked_run_dir
from infovae_lightning.run.summary import final_metrics, write_summary

log = logging.getLogger(__name__)

HYDRA_FILES = {".hydra", "train.log"}  # what Hydra writes into a run directory before the job starts


class JobFailed(Exception):
    """One job of a multirun failed; Hydra reports it after the other jobs have run."""


def _build(key: str, node: Any, **kwargs: Any) -> Any:
    """`instantiate(node)`; a bad value is one line naming the config key (`core.refusal`)."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as e:
        error = refusal(key, e.__cause__) if e.__cause__ is not None else None
        if error is None:
            raise
        raise error from None


def _build_all(key: str, group: DictConfig | None) -> list[Any]:
    """Instantiate each entry of `group` (callbacks or metrics).

    An entry without `_target_` holds options for an entry that is not selected: an experiment that tunes
    `metrics.nll_is` leaves `{num_samples: 5000}` behind when the command line picks `metrics=[...]` without
    nll_is. It is skipped with a warning instead of reaching the Trainer as a plain dict.
    """
    built = []
    for name, node in (group or {}).items():
        if node is None:
            continue
        if isinstance(node, DictConfig) and "_target_" not in node:
            log.warning("%s.%s sets options but selects nothing (no _target_): ignored", key, name)
            continue
        built.append(_build(f"{key}.{name}", node))
    return built


def _resolve(cfg: DictConfig) -> dict[str, Any]:
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as e:  # a resolver refused a value, e.g. data.name=svhn
        reason = re.sub(r"^\w+ raised while resolving interpolation: ", "", str(e).splitlines()[0])
        raise ConfigError(f"{getattr(e, 'full_key', None) or 'config'}: {reason}") from None


def _resume_path(cfg: DictConfig, callbacks: list[Any]) -> str | None:
    """The checkpoint to resume: `ckpt_path`, or with `resume=true` this run's last.ckpt if it exists."""
    if cfg.ckpt_path and cfg.resume:
        raise ConfigError("give ckpt_path=<checkpoint> or resume=true, not both")
    if cfg.ckpt_path:
        return str(cfg.ckpt_path)
    if not cfg.resume:
        return None
    latest = [cb for cb in callbacks if isinstance(cb, LatestCheckpoint)]
    if not latest:
        raise ConfigError("resume=true needs the callbacks.last_checkpoint callback (it writes last.ckpt)")
    if latest[0].path.is_file():
        return str(latest[0].path)
    log.info("resume=true: no %s yet, starting from scratch", latest[0].path)
    return None


@dataclass
class Prepared:
    """Everything a run needs, built and checked by `prepare` before anything is written."""

    config: dict[str, Any]
    datamodule: Any
    model: Any
    callbacks: list[Any]
    loggers: list[Any]
    trainer: L.Trainer
    ckpt_path: str | None
    preemption: Preemption


def prepare(cfg: DictConfig) -> Prepared:
    """The pre-flight: every check that writes nothing (values, names, checkpoints, the data files, what the
    metrics need), building the objects of the run on the way. A bad value raises an `InfoVAEError`."""
    place_job(cfg)
    check_values(cfg)
    if "input_shape" in cfg.model and OmegaConf.is_interpolation(cfg.model, "input_shape"):
        data_shape(cfg.data.name)  # the data set the schema's resolver will ask, as the CLI names it
    config = _resolve(cfg)
    datamodule = _build("data", cfg.data)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    model = _build("model", cfg.model, _convert_="all")
    callbacks = _build_all("callbacks", cfg.callbacks)
    if metrics := _build_all("metrics", cfg.get("metrics")):
        callbacks.append(Evaluator(metrics, seed=cfg.seed))
    if not cfg.trainer.get("enable_progress_bar", True):  # Lightning refuses a bar it is told not to show
        callbacks = [cb for cb in callbacks if not isinstance(cb, ProgressBar)]
    preemption = Preemption()
    callbacks += [FinalValidation(), preemption]
    ckpt_path = _resume_path(cfg, callbacks)
    if ckpt_path:
        check_resume(model, read_checkpoint_at("ckpt_path", ckpt_path), cfg.trainer.get("max_epochs"))
    elif model.hparams.get("init_from"):  # a user's model (model._target_) may have no init_from
        check_fits(model, read_checkpoint_at("model.init_from", model.hparams.init_from))
    loggers = _build_all("logger", cfg.logger)
    extra = {} if cfg.trainer.get("plugins") else {"plugins": [AtomicCheckpointIO()]}
    trainer = _build("trainer", cfg.trainer, callbacks=callbacks, logger=loggers or False, **extra)
    load_data_early(datamodule, "fit")
    check_metrics(callbacks, datamodule, model)
    return Prepared(config, datamodule, model, callbacks, loggers, trainer, ckpt_path, preemption)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Train one model as `cfg` says; returns the summary's metrics.

    A run stopped by SIGTERM, SIGINT or SIGUSR1 ends (after its checkpoint and summary) with `SystemExit`
    of 128 + the signal's number (see `preemption`).
    """
    out = Path(cfg.paths.output_dir)
    rank_zero = rank_zero_only.rank == 0  # DDP ranks > 0 run this job too (see `jobs`), and write nothing
    with locked_run_dir(out) if rank_zero else nullcontext():
        # 1. Checks that write nothing: values, names, checkpoints, then the data files.
        p = prepare(cfg)
        # 2. The run.
        if rank_zero:
            OmegaConf.save(OmegaConf.create(p.config), out / "config.yaml")
        p.preemption.install()
        try:
            return _fit(cfg, p, out)
        finally:
            p.preemption.restore()


def _fit(cfg: DictConfig, p: Prepared, out: Path) -> dict[str, Any]:
    trainer, model, datamodule = p.trainer, p.model, p.datamodule
    record_config(p.loggers, p.config)
    status, error = "failed", None
    metrics: dict[str, Any] = {}  # fit's, the final validation's and test's: each stage resets the trainer's
    steps: dict[str, int] = {}
    timing: dict[str, Any] = {}
    evaluators = [cb for cb in p.callbacks if isinstance(cb, Evaluator)]
    try:
        start = time.perf_counter()
        trainer.fit(model, datamodule=datamodule, ckpt_path=p.ckpt_path)
        timing |= {"fit_seconds": time.perf_counter() - start, "epochs": trainer.current_epoch}
        metrics |= final_metrics(trainer)
        steps |= logged_steps(model, metrics, ("train", "val"))
        start = time.perf_counter()
        if finish_fit(trainer, model, datamodule, p.callbacks):
            timing["final_validation_seconds"] = time.perf_counter() - start
            metrics |= final_metrics(trainer)
            steps |= logged_steps(model, final_metrics(trainer), ("val",))
        if cfg.test and p.preemption.signum is None:
            start = time.perf_counter()
            trainer.test(model, datamodule=datamodule)
            timing["test_seconds"] = time.perf_counter() - start
        status = "interrupted" if p.preemption.signum is not None or trainer.interrupted else "completed"
    except Interrupted as e:
        status, error = "interrupted", str(e)
        p.preemption.signum = e.signum
    except NonFiniteLossError as e:
        last = saved_checkpoints(trainer)["last"]
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint had been written yet"
        error = f"{e}; training stopped, {kept}"
        raise NonFiniteLossError(error) from e
    except Exception as e:
        error = f"{type(e).__name__}: {e}" if not isinstance(e, InfoVAEError) else str(e)
        raise
    finally:
        metrics |= final_metrics(trainer)
        steps |= logged_steps(model, final_metrics(trainer), ("test",))
        if trainer.is_global_zero:
            records = {key: rec for cb in evaluators for key, rec in cb.records.items()}
            steps |= {key: rec["step"] for key, rec in records.items() if key in metrics}
            timing["evaluation_seconds"] = {name: s for cb in evaluators for name, s in cb.seconds.items()}
            extra: dict[str, Any] = {"error": error} if error else {}
            if p.preemption.signum is not None:
                extra["signal"] = p.preemption.signal_name
            try:
                write_summary(
                    out / "summary.json",
                    trainer,
                    p.config,
                    status,
                    metrics,
                    steps=dict(sorted(steps.items())),
                    resumed_from=p.ckpt_path,
                    evaluation=records,
                    timing=timing,
                    provenance=provenance(),
                    **extra,
                )
            except OSError as e:  # a full disk: the checkpoints already written are what is kept
                log.error("could not write %s: %s", out / "summary.json", e)
        finish_runs(p.loggers, metrics, status, p.preemption.signum)
        wait_for_ranks(trainer)
    if p.preemption.signum is not None:
        log.warning("%s received: %s", p.preemption.signal_name, stopped_at(trainer))
        raise SystemExit(p.preemption.exit_code)
    return metrics


def stopped_at(trainer: Any) -> str:
    """Where a stopped run ends and what `resume=true` continues from: the step of `last.ckpt`, which is
    the stopped step after one signal and an earlier validation's after a second (`preemption`)."""
    last, step = saved_checkpoints(trainer)["last"], trainer.global_step
    if not last or not Path(last).is_file():
        return f"stopped at step {step}, before any checkpoint: resume=true would start over"
    saved = checkpoint_step(last)
    if saved is None:
        return f"stopped at step {step}; {last} is the latest checkpoint (resume with resume=true)"
    if saved == step:
        return f"stopped at step {step}; {last} holds it (resume with resume=true)"
    lost = f"steps {saved + 1} to {step}" if step > saved + 1 else f"step {step}"
    return f"stopped at step {step}; {last} holds step {saved}, where resume=true continues ({lost} again)"


def logged_steps(model: Any, metrics: dict[str, Any], stages: tuple[str, ...]) -> dict[str, int]:
    """The global step at which each of `metrics` of `stages` was logged by the model (see `log_terms`)."""
    logged_at = getattr(model, "logged_at", {})
    return {
        key: logged_at[stage]
        for key in metrics
        for stage in stages
        if key.startswith(f"{stage}/") and stage in logged_at
    }


def _forget_run_dir(out: Path) -> None:
    """Removes a run directory holding only what Hydra wrote before the job (never one with results)."""
    if out.is_dir() and {p.name for p in out.iterdir()} <= HYDRA_FILES:
        shutil.rmtree(out, ignore_errors=True)


def main() -> float | None:
    """`python train.py` and `infovae-train`: a bad value on the command line is one `error:` line before
    Hydra starts (`override_check`); everything else is Hydra's."""
    error = override_error(sys.argv[1:], CONFIG_DIR)
    if error is not None:
        exit_with(error)
    return hydra_main()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    out = Path(hydra_cfg.runtime.output_dir)
    quiet_third_party()
    try:
        with isolated_job():
            metrics = run(cfg)
    except InfoVAEError as error:
        # A user-fixable problem: one line that says what is wrong and how to fix it, no traceback.
        if hydra_cfg.mode == RunMode.MULTIRUN:
            # Keep the job's directory as the record of its failure (summary.json, train.log); Hydra runs the
            # remaining jobs, then exits nonzero naming this one.
            log.error("%s", error)
            if not (out / "summary.json").exists():
                overrides = list(hydra_cfg.overrides.task)
                write_summary(
                    out / "summary.json", None, {"overrides": overrides}, "failed", error=str(error)
                )
            raise JobFailed(str(error)) from None
        _forget_run_dir(out)
        exit_with(error)
    if hydra_cfg.mode == RunMode.RUN and rank_zero_only.rank == 0 and (out / "summary.json").is_file():
        print("\n".join(closing_lines(out, json.loads((out / "summary.json").read_text()))))
    # A scalar for hyperparameter sweepers (e.g. Optuna): the final validation loss.
    value = metrics.get("val/loss")
    return value if isinstance(value, float) else None


if __name__ == "__main__":
    main()
