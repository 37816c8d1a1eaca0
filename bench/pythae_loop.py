"""(c) of `bench/throughput.py`: pythae 0.1.2 training the same networks, through its own trainer.

`bash bench/setup.sh` installs pythae into `.bench-site/` (git-ignored; never a dependency of the package or
of CI); `bench/throughput.py` puts it on the path of the processes that run these cases.

Models: pythae's `VAE` for the ELBO, `INFOVAE_MMD` for the MMD-VAE (its `rbf` kernel with
C = 2·d·bandwidth² = d², i.e. our kernel exp(−‖a − b‖²/d²); pythae's estimator leaves the diagonals out) and
`Adversarial_AE` for the AAE (adversarial and reconstruction scales 1: our α = λ = 1). pythae has no Stein
variational model. The networks are ours, wrapped in pythae's interfaces: the encoder returns the mean and
log σ² = 2·log(std_floor + softplus(raw)), the decoder sigmoid(logits) for pythae's `bce` loss, the
discriminator σ(logit). Training runs `trainer.train()` as a pythae user would (its data set, loader, progress
bar and callbacks included) and is stopped once the timed steps are done. As in our Lightning case, a step's
time runs from the end of the previous step to the end of this one, and the first step of each epoch is left
out (pythae copies the best model and logs between epochs).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.bare_loop import networks
from bench.common import Case, Result, compose, peak_memory, start_memory, synchronize, training_images
from bench.paired import AlternatingWindows, bare_trainer
from infovae_lightning.nets.mlp import MLP

SUPPORTED = ("elbo", "mmd", "aae")


def pythae_classes():
    """pythae's modules, imported only here: the rest of the benchmark runs without it."""
    try:
        import pythae.models as models
        import pythae.models.nn as pythae_nn
        import pythae.trainers as trainers
        from pythae.data.datasets import BaseDataset
        from pythae.models.base.base_utils import ModelOutput
        from pythae.trainers.training_callbacks import TrainingCallback
    except ImportError as e:
        raise SystemExit(f"pythae is not installed ({e}); run `bash bench/setup.sh` first") from None
    return models, pythae_nn, trainers, BaseDataset, ModelOutput, TrainingCallback


class StopTraining(Exception):
    """Raised by the timing callback once the timed steps are done (pythae has no max_steps)."""


def wrap(encoder_net: nn.Module, decoder_net: nn.Module, std_floor: float) -> tuple[nn.Module, nn.Module]:
    """Our encoder and decoder networks behind pythae's interfaces (the same q(z|x) and p(x|z))."""
    _, pythae_nn, _, _, ModelOutput, _ = pythae_classes()

    class Encoder(pythae_nn.BaseEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = encoder_net

        def forward(self, x: Tensor):
            mean, raw_std = self.net(x).chunk(2, dim=-1)
            std = std_floor + F.softplus(raw_std)
            return ModelOutput(embedding=mean, log_covariance=2.0 * torch.log(std))

    class Decoder(pythae_nn.BaseDecoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = decoder_net

        def forward(self, z: Tensor):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))

    return Encoder(), Decoder()


def build(case: Case, cfg: dict[str, Any]):
    """The pythae model of `case` with our networks, and its trainer's class and config."""
    models, pythae_nn, trainers, _, ModelOutput, _ = pythae_classes()
    m = cfg["model"]
    d = m["latent_dim"]
    encoder, decoder = wrap(*networks(m["net"], m["input_shape"], d), m["std_floor"])
    common = {"input_dim": tuple(m["input_shape"]), "latent_dim": d, "reconstruction_loss": "bce"}
    trainer_common = {
        "per_device_train_batch_size": case.batch_size,
        "num_epochs": 10**6,  # stopped by the timing callback
        "no_cuda": not case.device.startswith("cuda"),
        "seed": cfg["seed"],
        "steps_saving": None,
    }
    if case.model == "elbo":
        model = models.VAE(models.VAEConfig(**common), encoder=encoder, decoder=decoder)
    elif case.model == "mmd":
        config = models.INFOVAE_MMD_Config(
            **common, alpha=m["alpha"], lbd=m["lam"], kernel_choice="rbf", kernel_bandwidth=math.sqrt(d / 2)
        )
        model = models.INFOVAE_MMD(config, encoder=encoder, decoder=decoder)
    elif case.model == "aae":

        class Discriminator(pythae_nn.BaseDiscriminator):
            def __init__(self) -> None:
                super().__init__()
                self.net = MLP((d,), (1,), hidden=m["disc_hidden"])

            def forward(self, z: Tensor):
                return ModelOutput(embedding=torch.sigmoid(self.net(z)))

        scales = {"adversarial_loss_scale": 1.0, "reconstruction_loss_scale": 1.0}
        config = models.Adversarial_AE_Config(**common, **scales)
        model = models.Adversarial_AE(config, encoder=encoder, decoder=decoder, discriminator=Discriminator())
        trainer_config = trainers.AdversarialTrainerConfig(
            **trainer_common,
            autoencoder_learning_rate=m["lr"],
            discriminator_learning_rate=m["disc_lr"],
        )
        return model, trainers.AdversarialTrainer, trainer_config
    else:
        raise ValueError(f"pythae has no model for {case.model}; choose one of {', '.join(SUPPORTED)}")
    trainer_config = trainers.BaseTrainerConfig(**trainer_common, learning_rate=m["lr"], optimizer_cls="Adam")
    return model, trainers.BaseTrainer, trainer_config


def train_until_stopped(
    case: Case, cfg: dict[str, Any], x: torch.Tensor, callback: Any, before: Callable[[], Any] = lambda: None
) -> Any:
    """pythae's `trainer.train()` on the images `x`, until `callback` raises StopTraining; `before()` runs
    just before training starts (model, data set and trainer built), and its result is returned."""
    _, _, _, BaseDataset, _, _ = pythae_classes()
    model, trainer_cls, trainer_config = build(case, cfg)
    with tempfile.TemporaryDirectory() as out:
        trainer_config.output_dir = out
        dataset = BaseDataset(x, torch.zeros(x.shape[0]))
        trainer = trainer_cls(model, dataset, training_config=trainer_config, callbacks=[callback])
        started = before()
        try:
            trainer.train()
        except StopTraining:
            pass
    return started


def run(case: Case) -> Result:
    _, _, _, _, _, TrainingCallback = pythae_classes()
    cfg = compose(case)
    torch.manual_seed(cfg["seed"])
    device = torch.device(case.device)
    x = training_images(case)

    class Timer(TrainingCallback):
        """Times each step from the end of the previous one; leaves out each epoch's first step."""

        def __init__(self) -> None:
            self.batches = self.steps = 0
            self.seconds = 0.0
            self.previous_end: float | None = None

        def on_train_step_begin(self, training_config, **kwargs) -> None:  # pythae: an epoch begins
            self.previous_end = None

        def on_train_step_end(self, training_config, **kwargs) -> None:  # pythae: a batch ends
            self.batches += 1
            if self.batches == case.warmup:
                synchronize(device)
            now = time.perf_counter()
            if self.batches > case.warmup and self.previous_end is not None:
                self.seconds += now - self.previous_end
                self.steps += 1
            self.previous_end = now
            if self.steps == case.steps:
                raise StopTraining

    timer = Timer()
    rss_start = train_until_stopped(case, cfg, x, timer, before=lambda: start_memory(device))
    rss, cuda = peak_memory(device)
    return Result("pythae", timer.steps, timer.steps * case.batch_size, timer.seconds, rss, rss_start, cuda)


def run_paired(case: Case, window: int) -> dict[str, Any]:
    """(c)/(b) in one process: pythae's trainer, bare steps timed between windows of its steps (paired.py)."""
    _, _, _, _, _, TrainingCallback = pythae_classes()
    cfg = compose(case)
    torch.manual_seed(cfg["seed"])
    device = torch.device(case.device)
    x = training_images(case)
    bare = bare_trainer(cfg["model"], case.model, device)
    windows = AlternatingWindows(bare, x, window, max(1, case.steps // window), case.warmup, device)

    class Alternate(TrainingCallback):
        def on_train_step_begin(self, training_config, **kwargs) -> None:  # pythae: an epoch begins
            windows.interrupt()

        def on_train_step_end(self, training_config, **kwargs) -> None:  # pythae: a batch ends
            if windows.step_end(case.batch_size):
                raise StopTraining

    train_until_stopped(case, cfg, x, Alternate())
    return windows.results()
