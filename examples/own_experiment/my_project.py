"""A user's project: their own model class and data module, trained by the installed `infovae-train`.

The model is any LightningModule with the protocol of `infovae_lightning.protocols` (here it reuses the
networks of `examples/own_vae.py`'s kind, written out again so this folder stands alone) and logs `val/loss`
(the default checkpoint callback monitors it). The data module serves plain tensors.

    cd examples/own_experiment
    PYTHONPATH=. infovae-train --config-dir conf experiment=my_experiment
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Normal, kl_divergence
from torch.utils.data import DataLoader, TensorDataset

from infovae_lightning.divergences import MMD


class Encoder(nn.Module):
    def __init__(self, data_dim: int, latent_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(data_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim))

    def forward(self, x: Tensor) -> Normal:
        mean, raw = self.net(x).chunk(2, dim=-1)
        return Normal(mean, F.softplus(raw) + 1e-3)


class Decoder(nn.Module):
    def __init__(self, data_dim: int, latent_dim: int, hidden: int, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, data_dim))

    def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        return Normal(self.net(z), self.sigma).log_prob(x).sum(-1)

    def sample(self, z: Tensor) -> Tensor:
        return Normal(self.net(z), self.sigma).sample()

    def mean(self, z: Tensor) -> Tensor:
        return self.net(z)


class RingVAE(L.LightningModule):
    """InfoVAE (alpha = 0) with our MMD on the user's data: recon + KL + (lam - 1) MMD."""

    def __init__(
        self, data_dim: int = 10, latent_dim: int = 2, hidden: int = 64, lam: float = 100.0, lr: float = 1e-3
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.latent_dim = latent_dim
        self.encoder = Encoder(data_dim, latent_dim, hidden)
        self.decoder = Decoder(data_dim, latent_dim, hidden, sigma=0.1)
        self.mmd = MMD()

    def step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        x = batch[0]
        q = self.encoder(x)
        z = q.rsample()
        recon = -self.decoder.log_prob(x, z).mean()
        kl = kl_divergence(q, Normal(0.0, 1.0)).sum(-1).mean()
        loss = recon + kl + (self.hparams.lam - 1) * self.mmd(z, torch.randn_like(z))
        self.log(f"{stage}/loss", loss, prog_bar=True)
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self.step(batch, "train")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.step(batch, "test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


class RingData(L.LightningDataModule):
    """Points on a noisy ring mapped into `data_dim` dimensions by a fixed random map; label: the quadrant."""

    def __init__(self, data_dim: int = 10, size: int = 2000, batch_size: int = 100, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        angle = 2 * torch.pi * torch.rand(size, generator=generator)
        noise = 0.05 * torch.randn(size, 2, generator=generator)
        ring = torch.stack([angle.cos(), angle.sin()], dim=1) + noise
        x = ring @ torch.randn(2, data_dim, generator=generator)
        y = (angle // (torch.pi / 2)).long()
        cut = size // 10
        self.sets = {
            "val": TensorDataset(x[:cut], y[:cut]),
            "test": TensorDataset(x[cut : 2 * cut], y[cut : 2 * cut]),
            "train": TensorDataset(x[2 * cut :], y[2 * cut :]),
        }
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.sets["train"], batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.sets["val"], batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.sets["test"], batch_size=self.batch_size)
