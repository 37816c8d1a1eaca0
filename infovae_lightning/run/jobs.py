"""One Hydra job, run in a process that may run others after it (a multirun): its devices, its DDP children
and the clean-up after it.

Two traps make most Lightning + Hydra projects fail in a multirun with `strategy=ddp`:

1. Lightning's DDP launcher starts ranks 1..N-1 by re-running the command line (`sys.argv`). In a multirun
   that holds `-m` and the sweep, so every rank re-runs the whole sweep, writing sweep directories of its
   own. Here a child runs exactly its job: the job's own overrides, without `-m`, in the job's directory,
   with Hydra's logging and `.hydra/` output turned off (rank 0 writes the job's files).
2. The launcher leaves `MASTER_PORT`, `LOCAL_RANK`, `WORLD_SIZE`... in the environment, the process group
   stays initialised, and Lightning's W&B logger sets `WANDB_MODE`: the next job of the sweep, in the same
   process, would believe its ranks were started externally (and wait for them forever) or inherit offline
   mode. Each job gets the environment it started with back, and the process group is destroyed.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_original_cwd, to_absolute_path
from omegaconf import DictConfig

from infovae_lightning.compat import ddp_child_command
from infovae_lightning.errors import ConfigError

log = logging.getLogger(__name__)

CHILD_WAIT_SECONDS = 60
PARALLEL_LAUNCHERS = ("JoblibLauncher",)  # launchers that run several jobs at once on one machine


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, e.g. a SLURM or container limit)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def jobs_at_once(n_jobs: int | None, cores: int) -> int:
    """How many jobs a joblib launcher runs side by side: `n_jobs`, negative counting back from the cores
    (-1: all of them), as joblib reads it."""
    if n_jobs is None or n_jobs == 0:
        return 1
    return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)


def cpu_threads(requested: int | None, parallel: int, cores: int) -> int | None:
    """torch's CPU threads for one job: `requested` if the user set `threads`; with `parallel` jobs side by
    side, the cores shared out (jobs × threads ≤ cores, at least 1 each); else None (torch's default)."""
    if requested is not None:
        if requested < 1:
            raise ConfigError(f"threads must be >= 1 (or null for the default), got {requested}")
        return requested
    return max(1, cores // parallel) if parallel > 1 else None


def set_cpu_threads(cfg: DictConfig) -> None:
    """Applies `cpu_threads` to this job; warns when a launcher runs more jobs at once than cores."""
    parallel, cores = 1, available_cores()
    if HydraConfig.initialized():
        launcher = HydraConfig.get().launcher
        if any(name in str(launcher.get("_target_", "")) for name in PARALLEL_LAUNCHERS):
            parallel = jobs_at_once(launcher.get("n_jobs"), cores)
            if parallel > cores:
                log.warning(
                    "hydra.launcher.n_jobs=%d runs up to %d jobs at once on %d cores: they slow each other "
                    "down; set hydra.launcher.n_jobs=%d",
                    parallel,
                    parallel,
                    cores,
                    cores,
                )
    threads = cpu_threads(cfg.get("threads"), parallel, cores)
    if threads is not None:
        torch.set_num_threads(threads)


def place_job(cfg: DictConfig) -> None:
    """Sets the job's CPU threads (`set_cpu_threads`). Under a launcher that runs jobs side by side
    (`hydra/launcher=joblib`), gives each job its own GPU (job k: GPU k mod the number of GPUs) and refuses
    DDP, which would start processes for every job at once.
    """
    set_cpu_threads(cfg)
    if not HydraConfig.initialized():  # not a Hydra job (a config composed by hand)
        return
    hydra = HydraConfig.get()
    if not any(name in str(hydra.launcher.get("_target_", "")) for name in PARALLEL_LAUNCHERS):
        return
    trainer = cfg.trainer
    if "ddp" in str(trainer.get("strategy", "")) or trainer.devices not in (1, "1"):
        raise ConfigError(
            "hydra/launcher=joblib runs jobs side by side, one device each: it cannot be combined with DDP "
            f"(trainer.strategy={trainer.get('strategy')}, trainer.devices={trainer.devices}); use the basic "
            "launcher for multi-GPU jobs"
        )
    gpus = torch.cuda.device_count()
    if gpus > 1 and trainer.accelerator in ("gpu", "cuda", "auto"):
        trainer.devices = [hydra.job.num % gpus]


def child_command(local_rank: int) -> tuple[Sequence[str], str]:
    """The command that starts rank `local_rank` of the running job (replaces Lightning's)."""
    import __main__

    hydra = HydraConfig.get()
    if __main__.__spec__ is None:
        command = [sys.executable, to_absolute_path(sys.argv[0])]
    else:
        command = [sys.executable, "-m", __main__.__spec__.name]
    command += list(hydra.overrides.task)  # this job's values: a multirun's sweep resolved, no -m
    command += [
        f'hydra.run.dir="{hydra.runtime.output_dir}"',
        "hydra.output_subdir=null",
        f"hydra.job.name={hydra.job.name}_rank{local_rank}",
        "hydra/job_logging=disabled",
        "hydra/hydra_logging=disabled",
    ]
    return command, get_original_cwd()


def wait_for_ranks(trainer: Any) -> None:
    """Waits for the DDP processes this job started (they end with it): none is left behind."""
    for child in getattr(getattr(trainer.strategy, "launcher", None), "procs", []):
        try:
            child.wait(timeout=CHILD_WAIT_SECONDS)
        except Exception:
            child.kill()


@contextmanager
def isolated_job() -> Iterator[None]:
    """Runs one job: DDP children start as `child_command` says; afterwards the environment and the process
    group are as they were before the job."""
    environment = dict(os.environ)
    try:
        with ddp_child_command(child_command):
            yield
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        os.environ.clear()
        os.environ.update(environment)
