"""Your own VAE, regularised with InfoVAE's MMD and scored with the paper's metrics, under a plain Trainer.

Nothing here subclasses this library: the networks, the LightningModule and the data (plain tensors in a
`TensorDataset`) are the user's. What the metrics (run by one `Evaluator` callback) need is the small
protocol of `infovae_lightning.protocols`: `encoder(x)` returns a posterior with mean and std (here a
`torch.distributions.Normal`), `decoder.log_prob(x, z)` and `decoder.sample(z)` (and `mean(z)`), and
`latent_dim`.

    python examples/own_vae.py --epochs 20 --out own_vae_run
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import CSVLogger
from sklearn.datasets import load_digits
from torch import Tensor, nn
from torch.distributions import Normal, kl_divergence
from torch.utils.data import TensorDataset

from infovae_lightning.divergences import MMD
from infovae_lightning.metrics import (
    Evaluator,
    FullMMD,
    ImportanceSampledNLL,
    LatentUsage,
    LogDetCovariance,
    Pictures,
    SemiSupervisedAccuracy,
)

SHAPE = (1, 8, 8)


class Encoder(nn.Module):
    """x [B, 1, 8, 8] -> q(z|x) = N(mean, std²), a torch Normal."""

    def __init__(self, latent_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(math.prod(SHAPE), hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim)
        )

    def forward(self, x: Tensor) -> Normal:
        mean, raw = self.net(x).chunk(2, dim=-1)
        return Normal(mean, F.softplus(raw) + 1e-3)


class Decoder(nn.Module):
    """p(x|z) = N(net(z), sigma²) per pixel."""

    def __init__(self, latent_dim: int, sigma: float, hidden: int = 256) -> None:
        super().__init__()
        self.sigma = sigma
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, math.prod(SHAPE)),
            nn.Unflatten(1, SHAPE),
        )

    def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        return Normal(self.net(z), self.sigma).log_prob(x).flatten(1).sum(-1)

    def sample(self, z: Tensor) -> Tensor:
        return Normal(self.net(z), self.sigma).sample()

    def mean(self, z: Tensor) -> Tensor:
        return self.net(z)


class MyVAE(L.LightningModule):
    """An InfoVAE with alpha = 0: reconstruction + KL(q(z|x)||p(z)) + (lam - 1) MMD(q(z), p(z))."""

    def __init__(
        self, latent_dim: int = 2, lam: float = 1000.0, sigma: float = 1 / 32, lr: float = 1e-3
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.latent_dim = latent_dim
        self.encoder = Encoder(latent_dim)
        self.decoder = Decoder(latent_dim, sigma)
        self.mmd = MMD(kernel="gaussian")  # InfoVAE's divergence, on plain tensors of z

    def loss(self, x: Tensor, stage: str) -> Tensor:
        q = self.encoder(x)
        z = q.rsample()
        recon = -self.decoder.log_prob(x, z).mean()
        kl = kl_divergence(q, Normal(0.0, 1.0)).sum(-1).mean()
        mmd = self.mmd(z, torch.randn_like(z))
        loss = recon + kl + (self.hparams.lam - 1) * mmd
        self.log_dict({f"{stage}/loss": loss, f"{stage}/recon": recon, f"{stage}/mmd": mmd}, prog_bar=False)
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self.loss(batch[0], "train")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.loss(batch[0], "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.loss(batch[0], "test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def digits_data(batch_size: int = 50) -> L.LightningDataModule:
    """The user's data: 8x8 digits as plain tensors, split 1397 / 200 / 200, in a stock Lightning module."""
    digits = load_digits()
    x = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16
    y = torch.as_tensor(digits.target)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    parts = {"val": order[:200], "test": order[200:400], "train": order[400:]}
    sets = {name: TensorDataset(x[index], y[index]) for name, index in parts.items()}
    return L.LightningDataModule.from_datasets(
        train_dataset=sets["train"], val_dataset=sets["val"], test_dataset=sets["test"], batch_size=batch_size
    )


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("own_vae_run"))
    args = parser.parse_args(argv)

    L.seed_everything(0, verbose=False)
    metrics = [  # the paper's metrics on the user's model and data, every 5th epoch or at test
        FullMMD(),
        LogDetCovariance(),
        LatentUsage(),
        SemiSupervisedAccuracy(budgets=[100, "all"]),
        ImportanceSampledNLL(num_samples=100),
        Pictures(every_n_val_epochs=None),
    ]
    trainer = L.Trainer(
        max_epochs=args.epochs,
        callbacks=[Evaluator(metrics)],
        logger=CSVLogger(args.out, name="csv", version=""),
        default_root_dir=args.out,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
    )
    model, data = MyVAE(), digits_data()
    trainer.fit(model, datamodule=data)
    results = {key: float(value) for key, value in trainer.callback_metrics.items()}
    trainer.test(model, datamodule=data, verbose=False)
    results |= {key: float(value) for key, value in trainer.callback_metrics.items()}
    for key in ("val/mi", "val/active_units", "val/mmd_full", "test/nll_is", "test/semisup_acc_100"):
        print(f"{key} = {results[key]:.4g}")
    print(f"pictures: {args.out / 'images'}")
    return results


if __name__ == "__main__":
    main()
