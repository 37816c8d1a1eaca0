"""Loggers for jobs that resume and sweeps: a CSV file that keeps its rows when a run resumes, and Weights &
Biases with one run per job, grouped by sweep, that never blocks or fails training.

The logger config (`conf/logger/wandb.yaml`) names each run after its job's overrides and groups the jobs of a
multirun by sweep (`<task_name>/<sweep time>`), so `wandb sync` of an offline sweep shows it as one group.
Offline mode is chosen when no API key is configured (`config.wandb_offline`), and `jobs.isolated_job` keeps
that choice from leaking into the next job.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_warn

from infovae_lightning.compat import wandb_go_offline, wandb_run_started


def sweep_group(task_name: str) -> str | None:
    """`<task_name>/<sweep directory>` for a job of a multirun (the directory is the sweep's start time)."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return f"{task_name}/{Path(HydraConfig.get().sweep.dir).name}"


def job_name() -> str | None:
    """The job's overrides, e.g. `latent_dim=5,model=mmd` (None without any: W&B then picks a name)."""
    if not HydraConfig.initialized():
        return None
    return HydraConfig.get().job.override_dirname or None


METRICS_FILE = "metrics.csv"


class CSVLogger(LightningCSVLogger):
    """Lightning's CSV logger, that with `continue_run=True` (the config passes `resume=true`) appends to the
    run directory's `metrics.csv` instead of deleting it, so a resumed run's file holds its whole history.

    Steps logged after the resumed checkpoint and before the interruption are logged again by the resumed
    run, so such a step can appear twice; its later row is the resumed run's (`report.collect.read_history`
    keeps the last value logged at a step).
    """

    def __init__(self, *args: Any, continue_run: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.continue_run = continue_run
        self.writer_started = False

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        if self.writer_started or not self.continue_run:
            return super().experiment
        self.writer_started = True
        path = Path(self.log_dir) / METRICS_FILE
        if not path.is_file():
            return super().experiment
        aside = path.with_name(METRICS_FILE + ".resumed")  # Lightning's writer deletes a metrics.csv it finds
        path.replace(aside)
        with warnings.catch_warnings():  # its warning that earlier logs "will be deleted" is untrue here
            warnings.filterwarnings("ignore", message="Experiment logs directory")
            writer = super().experiment
        aside.replace(path)
        with path.open(newline="") as f:
            header = next(csv.reader(f), [])
        writer.metrics_keys = header  # new keys rewrite the file with the union of both runs' columns
        return writer


RUN_ID_FILE = "wandb_run_id"  # in the run directory: the W&B run a resumed job continues


class WandbLogger(LightningWandbLogger):
    """Lightning's W&B logger, for jobs that run one after another in one process and on flaky networks:

    - a run left open by an earlier job is finished, never reused (Lightning would log into it);
    - when W&B cannot start online (no network, a server error), it logs offline with a warning rather than
      failing the job; `wandb sync <save_dir>/wandb/offline-run-*` uploads it later;
    - the run's id is kept in `<save_dir>/wandb_run_id`; with `continue_run=True` (the config passes
      `resume=true`) a job restarted in that directory (after preemption) logs into the same W&B run.
    """

    def __init__(self, *args: Any, continue_run: bool = False, **kwargs: Any) -> None:
        save_dir = kwargs.get("save_dir")
        self.run_id_file = Path(save_dir) / RUN_ID_FILE if save_dir else None
        kept = self.run_id_file is not None and self.run_id_file.is_file()
        if continue_run and kept and not kwargs.get("id"):
            kwargs["id"] = self.run_id_file.read_text().strip()  # Lightning passes resume="allow" to W&B
        super().__init__(*args, **kwargs)

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        if not wandb_run_started(self):
            import wandb

            if wandb.run is not None:
                wandb.finish()
            try:
                run = super().experiment
            except Exception as e:  # wandb.init failed: W&B is unreachable or refused the run
                rank_zero_warn(
                    f"W&B could not start a run ({type(e).__name__}: {e}); logging offline instead"
                )
                wandb_go_offline(self)
                run = super().experiment
            self.keep_run_id(run)
            return run
        return super().experiment

    def keep_run_id(self, run: Any) -> None:
        run_id = getattr(run, "id", None)
        if self.run_id_file is not None and isinstance(run_id, str):
            try:
                self.run_id_file.parent.mkdir(parents=True, exist_ok=True)
                self.run_id_file.write_text(run_id + "\n")
            except OSError as e:
                rank_zero_warn(f"W&B: could not keep the run id in {self.run_id_file}: {e}")


def _runs(loggers: list[Any]) -> list[Any]:
    return [lg.experiment for lg in loggers if isinstance(lg, LightningWandbLogger)]


def record_config(loggers: list[Any], config: dict[str, Any]) -> None:
    """Adds the resolved config to the W&B run (Lightning logs only the model's and data's arguments)."""
    for run in _runs(loggers):
        _safely(lambda run=run: run.config.update({"resolved": config}, allow_val_change=True))


def finish_runs(loggers: list[Any], metrics: dict[str, Any], status: str, signum: int | None = None) -> None:
    """Puts the final metrics and status in each W&B run's summary, then closes it (also on failure).

    A run stopped by signal `signum` is marked as preempting (W&B then shows it as preempted, not crashed)
    and finished with the process's exit status, 128 + `signum`.
    """
    for run in _runs(loggers):
        _safely(lambda run=run: run.summary.update({**metrics, "status": status}))
        if signum is not None:
            _safely(run.mark_preempting)
    if any(isinstance(lg, LightningWandbLogger) for lg in loggers):
        import wandb

        exit_code = 0 if status == "completed" else 128 + signum if signum is not None else 1
        _safely(lambda: wandb.finish(exit_code=exit_code))


def _safely(action: Any) -> None:
    try:
        action()
    except Exception as e:  # logging must never fail the run
        rank_zero_warn(f"W&B: {type(e).__name__}: {e}")
