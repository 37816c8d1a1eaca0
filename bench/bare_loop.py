"""(b) of `bench/throughput.py`: a bare, hand-written PyTorch training loop of the same model.

The same networks (the library's registered `MLP`, `ConvEncoder`, `ConvDecoder` modules, plain
`nn.Sequential`s inside), the same loss written out by hand, the same (fused) Adam optimizers and learning
rates, on the same images: whatever our Lightning path costs beyond this is overhead (Lightning's loop and
hooks, our module's logging and checks, the data module). No Lightning, no callbacks, no logging, no NaN
check; batches indexed from one tensor on the training device.

`tests/test_bench.py` checks that `BareModel.loss` equals our module's `terms(x).loss` on the same batch,
weights and noise, so the ratio compares equal work.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.common import Case, Result, compose, peak_memory, start_memory, synchronize, training_images
from infovae_lightning.models.base import adam
from infovae_lightning.nets.mlp import MLP
from infovae_lightning.nets.registry import net_spec, network_spec


def networks(net: dict[str, Any], input_shape: list[int], latent_dim: int) -> tuple[nn.Module, nn.Module]:
    """Encoder (image → mean and pre-softplus std) and decoder (z → Bernoulli logits) of `net` (the model's
    nested spec: the registered encoder and feed-forward decoder, `infovae_lightning.nets.registry`)."""
    spec = net_spec(net)
    built = []
    for kind, in_shape, out_shape in (
        ("encoder", input_shape, (2 * latent_dim,)),
        ("decoder", (latent_dim,), input_shape),
    ):
        part = dict(spec[kind])
        record = network_spec(kind, part.pop("name"))
        if not getattr(record, "factorized", True):
            raise ValueError(f"the bare loop runs feed-forward decoders, not {record.name}")
        built.append(record.network(in_shape, out_shape, **part))
    return built[0], built[1]


def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    return (a.square().sum(1, keepdim=True) + b.square().sum(1) - 2.0 * a @ b.T).clamp_min(0.0)


def mmd(z: Tensor, prior: Tensor) -> Tensor:
    """Biased MMD² with the InfoVAE authors' kernel exp(−‖a − b‖² / d²)."""
    scale = z.shape[1] ** 2

    def k(a: Tensor, b: Tensor) -> Tensor:
        return torch.exp(-squared_distances(a, b) / scale).mean()

    return k(z, z) + k(prior, prior) - 2.0 * k(z, prior)


def svgd_surrogate(z: Tensor) -> Tensor:
    """−(1/n) Σᵢ φ*(zᵢ)·zᵢ with φ* the Stein variational gradient towards N(0, I) (RBF kernel, median
    heuristic bandwidth); its gradient moves each zᵢ along φ*(zᵢ)."""
    n = z.shape[0]
    with torch.no_grad():
        zd = z.detach()
        d2 = squared_distances(zd, zd).fill_diagonal_(0.0)
        flat = d2.flatten().sort().values
        h = (0.5 * (flat[(flat.numel() - 1) // 2] + flat[flat.numel() // 2]) / math.log(n + 1)).clamp_min(
            torch.finfo(z.dtype).eps
        )
        k = torch.exp(-d2 / h)
        kz = k @ zd
        phi = (-kz + (2.0 / h) * (k.sum(1, keepdim=True) * zd - kz)) / n
    return -(phi * z).sum() / n


class BareModel(nn.Module):
    """The model of a composed config's `model` node, as plain modules and a hand-written loss."""

    def __init__(self, model_cfg: dict[str, Any], kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.latent_dim = model_cfg["latent_dim"]
        self.alpha, self.lam = model_cfg["alpha"], model_cfg["lam"]
        self.std_floor = model_cfg["std_floor"]
        self.encoder, self.decoder = networks(model_cfg["net"], model_cfg["input_shape"], self.latent_dim)
        if kind == "aae":
            self.discriminator = MLP((self.latent_dim,), (1,), hidden=model_cfg["disc_hidden"])
            self.disc_steps = model_cfg["disc_steps"]

    def posterior_sample(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mean, raw_std = self.encoder(x).chunk(2, dim=-1)
        std = self.std_floor + F.softplus(raw_std)
        return mean + std * torch.randn_like(mean), mean, std

    def loss(self, x: Tensor) -> Tensor:
        """−L on the batch: reconstruction + (1−α)·KL + (α+λ−1)·D."""
        z, mean, std = self.posterior_sample(x)
        logits = self.decoder(z)
        loss = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()
        if self.alpha != 1:
            kl = (0.5 * (mean.square() + std.square() - 1.0) - std.log()).sum(1).mean()
            loss = loss + (1.0 - self.alpha) * kl
        weight = self.alpha + self.lam - 1.0
        if self.kind == "mmd":
            loss = loss + weight * mmd(z, torch.randn_like(z))
        elif self.kind == "stein":
            loss = loss + weight * svgd_surrogate(z)
        elif self.kind == "aae":  # the encoder's non-saturating loss −log σ(d(z))
            fake = self.discriminator(z).squeeze(-1)
            loss = loss + weight * F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        return loss

    def discriminator_loss(self, z_post: Tensor) -> Tensor:
        real = self.discriminator(torch.randn_like(z_post)).squeeze(-1)
        fake = self.discriminator(z_post).squeeze(-1)
        return F.binary_cross_entropy_with_logits(
            real, torch.ones_like(real)
        ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))


class BareTrainer:
    """The optimizers of the composed config and one training step, written out."""

    def __init__(self, model: BareModel, model_cfg: dict[str, Any]) -> None:
        self.model = model
        ae = list(model.encoder.parameters()) + list(model.decoder.parameters())
        self.optimizer = adam(ae, model_cfg["lr"], ae[0].device)
        if model.kind == "aae":
            disc = list(model.discriminator.parameters())
            self.disc_optimizer = adam(disc, model_cfg["disc_lr"], disc[0].device)

    def step(self, x: Tensor) -> None:
        model = self.model
        if model.kind == "aae":
            with torch.no_grad():
                z_post, _, _ = model.posterior_sample(x)
            for _ in range(model.disc_steps):
                self.disc_optimizer.zero_grad()
                model.discriminator_loss(z_post).backward()
                self.disc_optimizer.step()
            model.discriminator.requires_grad_(False)  # the encoder/decoder step leaves it alone
        self.optimizer.zero_grad()
        model.loss(x).backward()
        self.optimizer.step()
        if model.kind == "aae":
            model.discriminator.requires_grad_(True)


def batches(x: Tensor, batch_size: int, generator: torch.Generator):
    """Shuffled batches of `x` forever: one permutation per epoch, a batch by one indexing operation."""
    while True:
        order = torch.randperm(x.shape[0], device=x.device, generator=generator)
        for start in range(0, x.shape[0], batch_size):
            yield x.index_select(0, order[start : start + batch_size])


def run(case: Case) -> Result:
    """`case.warmup` steps, then `case.steps` timed ones, on the case's device."""
    cfg = compose(case)
    torch.manual_seed(cfg["seed"])
    device = torch.device(case.device)
    model = BareModel(cfg["model"], case.model).to(device)
    trainer = BareTrainer(model, cfg["model"])
    data = training_images(case).to(device)
    stream = batches(data, case.batch_size, torch.Generator(device=device).manual_seed(cfg["seed"]))
    rss_start = start_memory(device)
    for _ in range(case.warmup):
        trainer.step(next(stream))
    synchronize(device)
    start = time.perf_counter()
    images = 0
    for _ in range(case.steps):
        x = next(stream)
        trainer.step(x)
        images += x.shape[0]
    synchronize(device)
    seconds = time.perf_counter() - start
    rss, cuda = peak_memory(device)
    return Result("bare", case.steps, images, seconds, rss, rss_start, cuda)
