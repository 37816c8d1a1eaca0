"""Bring your own model: the divergences and every metric on a user's LightningModule and a stock
LightningDataModule over plain tensors (`infovae_lightning.protocols`)."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from helpers import QUIET_TRAINER
from torch import Tensor, nn
from torch.distributions import Independent, Normal, kl_divergence
from torch.utils.data import TensorDataset

from infovae_lightning.divergences import MMD, LatentDiscriminator, SteinDivergence
from infovae_lightning.metrics import (
    Evaluator,
    FullMMD,
    ImportanceSampledNLL,
    LatentUsage,
    LogDetCovariance,
    Pictures,
    SemiSupervisedAccuracy,
)
from infovae_lightning.nets import Posterior
from infovae_lightning.protocols import LatentVariableModel, as_posterior, evaluation_data, latent_dim

SHAPE = (1, 4, 4)


class Encoder(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2 * d))

    def forward(self, x: Tensor) -> Normal:
        mean, raw = self.net(x).chunk(2, dim=-1)
        return Normal(mean, F.softplus(raw) + 1e-3)


class Decoder(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, 16), nn.Unflatten(1, SHAPE))

    def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        return Normal(self.net(z), 0.1).log_prob(x).flatten(1).sum(-1)

    def sample(self, z: Tensor) -> Tensor:
        return self.net(z)  # no `mean`: the pictures use `sample`


class UserVAE(L.LightningModule):
    """A user's VAE whose D(q(z)||p(z)) is one of ours, picked by name."""

    def __init__(self, divergence: str, latent_dim: int = 2) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.divergence = divergence
        self.encoder, self.decoder = Encoder(latent_dim), Decoder(latent_dim)
        self.mmd, self.stein = MMD(), SteinDivergence()
        self.discriminator = LatentDiscriminator(latent_dim, hidden=[16])
        self.automatic_optimization = divergence != "adversarial"

    def loss(self, x: Tensor) -> tuple[Tensor, Tensor]:
        q = self.encoder(x)
        z = q.rsample()
        loss = -self.decoder.log_prob(x, z).mean()
        if self.divergence == "kl":
            loss = loss + kl_divergence(q, Normal(0.0, 1.0)).sum(-1).mean()
        elif self.divergence == "mmd":
            loss = loss + 10 * self.mmd(z, torch.randn_like(z))
        elif self.divergence == "stein":
            value, _ = self.stein(z)
            loss = loss + 10 * value
        else:
            loss = loss + self.discriminator.encoder_loss(z)
        return loss, z

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor | None:
        if self.automatic_optimization:
            return self.loss(batch[0])[0]
        opt_ae, opt_disc = self.optimizers()  # the discriminator's step first, then the autoencoder's
        with torch.no_grad():
            z = self.encoder(batch[0]).rsample()
        disc_loss = self.discriminator.loss(z, torch.randn_like(z))
        opt_disc.zero_grad()
        self.manual_backward(disc_loss)
        opt_disc.step()
        loss, _ = self.loss(batch[0])
        opt_ae.zero_grad()
        self.manual_backward(loss)
        opt_ae.step()
        return None

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.log("val/loss", self.loss(batch[0])[0])

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.log("test/loss", self.loss(batch[0])[0])

    def configure_optimizers(self):  # noqa: ANN201
        ae = torch.optim.Adam([*self.encoder.parameters(), *self.decoder.parameters()], lr=1e-3)
        if self.automatic_optimization:
            return ae
        return [ae, torch.optim.Adam(self.discriminator.parameters(), lr=1e-3)]


def tensor_data(n: int = 120) -> L.LightningDataModule:
    generator = torch.Generator().manual_seed(0)
    y = (torch.arange(n) // 3) % 3  # every split (every third example) holds every class
    x = y.view(-1, 1, 1, 1).float() / 2 + 0.1 * torch.randn(n, *SHAPE, generator=generator)
    sets = [TensorDataset(x[i::3], y[i::3]) for i in range(3)]
    return L.LightningDataModule.from_datasets(
        train_dataset=sets[0], val_dataset=sets[1], test_dataset=sets[2], batch_size=20
    )


@pytest.mark.parametrize("divergence", ["mmd", "stein", "adversarial", "kl"])
def test_divergences_and_every_metric_on_a_user_model(divergence: str, tmp_path) -> None:
    model, data = UserVAE(divergence), tensor_data()
    assert isinstance(model, LatentVariableModel)
    metrics = [
        FullMMD(),
        LogDetCovariance(),
        LatentUsage(),
        ImportanceSampledNLL(num_samples=8),
        SemiSupervisedAccuracy(budgets=[10, "all"]),
        Pictures(every_n_val_epochs=None, num_samples=4, num_reconstructions=4),
    ]
    options = {**QUIET_TRAINER, "default_root_dir": tmp_path, "max_epochs": 2}
    evaluator = Evaluator(metrics)
    trainer = L.Trainer(callbacks=[evaluator], **options)
    trainer.fit(model, datamodule=data)
    fit = {k: float(v) for k, v in trainer.callback_metrics.items()}
    trainer.test(model, datamodule=data, verbose=False)
    test = {k: float(v) for k, v in trainer.callback_metrics.items()}
    for key in ("val/mmd_full", "val/logdet_cov_per_dim", "val/kl_full", "val/mi", "val/active_units"):
        assert math.isfinite(fit[key]), key
    for key in ("test/nll_is", "test/semisup_acc_10", "test/semisup_acc_all", "test/mi"):
        assert math.isfinite(test[key]), key
    assert 0 <= test["test/semisup_acc_all"] <= 1
    # Provenance names the user's data module; the pictures were drawn from their decoder's samples.
    assert evaluator.records["val/mi"]["set"] == "LightningDataModule val split, 40 examples"
    assert sorted(p.name.split("_step")[0] for p in (tmp_path / "images").glob("*.png")) == [
        "test_latent_space",
        "test_reconstructions",
        "test_samples",
    ]


def test_posteriors_from_torch_distributions_and_ours() -> None:
    mean, std = torch.zeros(3, 2), torch.full((3, 2), 0.5)
    for q in (Normal(mean, std), Independent(Normal(mean, std), 1), Posterior(mean, std)):
        posterior = as_posterior(q)
        assert torch.equal(posterior.mean, mean) and torch.equal(posterior.std, std)
    assert as_posterior(Posterior(mean, None)).std is None


def test_loader_data_reads_labelled_and_unlabelled_batches() -> None:
    x, y = torch.randn(10, 3), torch.arange(10)
    labelled = L.LightningDataModule.from_datasets(val_dataset=TensorDataset(x, y), batch_size=4)
    unlabelled = L.LightningDataModule.from_datasets(val_dataset=TensorDataset(x), batch_size=4)
    got = evaluation_data(labelled).examples("val")
    assert torch.equal(got.x, x) and torch.equal(got.y, y)
    assert torch.equal(evaluation_data(unlabelled).examples("val").y, torch.full((10,), -1))


def test_an_evaluator_reads_a_users_loaders_once() -> None:
    reads = []

    class Counted(L.LightningDataModule):
        def val_dataloader(self) -> list[Tensor]:
            reads.append("val")
            return [torch.randn(4, 3)]

    data, evaluator = Counted(), Evaluator([FullMMD()])
    assert evaluator.data(data).examples("val") is evaluator.data(data).examples("val")
    assert reads == ["val"]
    Evaluator([FullMMD()]).data(data).examples("val")  # another evaluator: its own read
    assert reads == ["val", "val"]


def test_latent_dim_from_attribute_or_hparams() -> None:
    assert latent_dim(UserVAE("mmd", latent_dim=3)) == 3
    with pytest.raises(AttributeError, match="latent_dim"):
        latent_dim(nn.Linear(1, 1))
