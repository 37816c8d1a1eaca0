"""What the throughput cases share: the config `train.py` would compose, the training data, memory, timing.

Every case of `bench/throughput.py` takes its hyperparameters (α, λ, learning rates, widths...) from the same
composed config, so the three implementations train the same model; and its images from the same tensor.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/<script>.py` from anywhere: the checkout's package
    sys.path.insert(0, str(ROOT))

from bench.timing import peak_rss_mb, reset_peak_rss, rss_mb  # noqa: E402

MODELS = ("elbo", "mmd", "stein", "aae")
NETS = ("mlp", "conv")
DEFAULT_DATA_DIR = os.environ.get("INFOVAE_DATA_DIR", str(ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class Case:
    """One measurement: a model and net at a batch size, `steps` timed steps after `warmup` ones."""

    model: str
    net: str
    batch_size: int
    steps: int
    warmup: int = 10
    latent_dim: int = 10
    device: str = "cpu"
    data_root: str = DEFAULT_DATA_DIR
    overrides: tuple[str, ...] = ()  # further train.py overrides, e.g. model.compile=true

    def config_overrides(self) -> list[str]:
        """The overrides that make `train.py` train this case (the evaluation metrics off: measured apart)."""
        accelerator = "gpu" if self.device.startswith("cuda") else "cpu"
        return [
            f"model={self.model}",
            f"net={self.net}",
            "data=binarized_mnist",
            f"data.root={self.data_root}",
            f"data.batch_size={self.batch_size}",
            f"latent_dim={self.latent_dim}",
            f"trainer.accelerator={accelerator}",
            "metrics=none",
            *self.overrides,
        ]

    @property
    def name(self) -> str:
        """A name fit for file names and Hydra overrides (no `=` or `,`)."""
        extra = "".join(f"_{re.sub(r'[^A-Za-z0-9.-]+', '-', o)}" for o in self.overrides)
        return f"{self.model}-{self.net}-b{self.batch_size}{extra}"


@dataclass
class Result:
    """What a case measured: images/s over the timed steps and the peak memory while training."""

    variant: str  # lightning, bare or pythae
    steps: int
    images: int
    seconds: float
    peak_rss_mb: float  # the process's resident set at its peak while training
    rss_start_mb: (
        float  # ... when training started (libraries, data, model): the peak less this is training's
    )
    cuda_peak_mb: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: str | Path) -> Result:
        return cls(**json.loads(Path(path).read_text()))


# A Trainer that only trains, for the scripts that build one themselves: no logger, checkpoints, progress bar
# or model summary (what they time is Lightning's loop, not these).
QUIET_TRAINER: dict[str, Any] = {
    "accelerator": "cpu",
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}


def quiet() -> None:
    """Warnings and Lightning's info lines off, so that a script prints only its results."""
    warnings.filterwarnings("ignore")
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


def compose(case: Case) -> Any:
    """`conf/train.yaml` composed with the case's overrides, resolved (what `train.py` would instantiate)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from infovae_lightning.run.train import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=case.config_overrides())
    cfg.paths.output_dir = "unused"  # `${hydra:...}` only resolves inside a Hydra run
    return OmegaConf.to_container(cfg, resolve=True)


def training_images(case: Case) -> torch.Tensor:
    """Binarized MNIST's 50,000 training images, float32 [N, 1, 28, 28], as the data module holds them."""
    from infovae_lightning.data import InfoVAEDataModule

    datamodule = InfoVAEDataModule(name="binarized_mnist", root=case.data_root, download=False)
    datamodule.setup("fit")
    return datamodule.datasets["train"].examples.x


def synchronize(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def start_memory(device: torch.device | str) -> float:
    """Starts the peak-memory measurement (host resident set, and the GPU's allocations on a GPU); returns
    the resident set now, MB."""
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    reset_peak_rss()
    return rss_mb()


def peak_memory(device: torch.device | str) -> tuple[float, float | None]:
    """(peak resident set MB, peak GPU allocation MB or None) since `start_memory`."""
    cuda = torch.cuda.max_memory_allocated(device) / 2**20 if torch.device(device).type == "cuda" else None
    return peak_rss_mb(), cuda
