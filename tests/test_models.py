"""Each model learns on real data (binarized MNIST from ../shared/data), and its parts do their job."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import QUIET_TRAINER

from infovae_lightning.data import InfoVAEDataModule
from infovae_lightning.models import ELBOVAE, MMDVAE, AdversarialAE, SteinVAE

PRESETS = {
    "elbo": (ELBOVAE, {}),
    "beta": (ELBOVAE, {"alpha": -3.0, "lam": 4.0}),
    "mmd": (MMDVAE, {}),
    "stein": (SteinVAE, {}),
    "aae": (AdversarialAE, {}),
}
STEPS = 300


class History(L.Callback):
    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.rows.append({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")})

    def mean(self, key: str, rows: slice) -> float:
        values = [row[key] for row in self.rows[rows]]
        return sum(values) / len(values)


@pytest.fixture(scope="module")
def binarized_mnist() -> InfoVAEDataModule:
    from helpers import shared_data_dir

    root = shared_data_dir()
    if not (root / "binarized_mnist").is_dir():
        pytest.skip(f"offline data not found at {root}")
    dm = InfoVAEDataModule("binarized_mnist", root=root, batch_size=100, download=False, val_size=500)
    dm.setup("fit")
    return dm


@pytest.mark.parametrize("preset", list(PRESETS))
def test_loss_falls_on_binarized_mnist(
    preset: str, binarized_mnist: InfoVAEDataModule, tmp_path: Path
) -> None:
    cls, weights = PRESETS[preset]
    L.seed_everything(0)
    model = cls(latent_dim=5, input_shape=(1, 28, 28), net={"name": "mlp", "hidden": [200, 200]}, **weights)
    history = History()
    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=STEPS,
        limit_val_batches=0,
        log_every_n_steps=1,
        **QUIET_TRAINER,
        callbacks=[history],
        default_root_dir=tmp_path,
        accelerator="cpu",
    )
    trainer.fit(model, train_dataloaders=binarized_mnist.train_dataloader())
    first, last = slice(0, 20), slice(-20, None)
    # −E log p(x|z) starts near 784·log 2 ≈ 543 nats and must fall well below it in a few hundred steps.
    assert history.mean("train/recon", first) > 250
    assert history.mean("train/recon", last) < 0.75 * history.mean("train/recon", first)
    assert history.mean("train/loss", last) < history.mean("train/loss", first) - 50
    if preset == "mmd":
        assert history.mean("train/div", last) < 0.05  # λ=1000 keeps q(z) near p(z)
    if preset == "aae":
        assert history.mean("train/div", last) < 0.5 * 0.693  # JS well below its maximum, log 2


def test_aae_steps_both_players() -> None:
    L.seed_everything(0)
    model = AdversarialAE(latent_dim=2, net={"name": "mlp", "hidden": [32]}, disc_steps=3)
    x = torch.bernoulli(torch.rand(64, 1, 28, 28))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = L.Trainer(
        max_epochs=1,
        **QUIET_TRAINER,
        accelerator="cpu",
    )
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(64)), batch_size=64)
    trainer.fit(model, train_dataloaders=loader)
    changed = {n.split(".")[0] for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"encoder", "decoder", "discriminator"}
    assert trainer.global_step == 4  # 3 discriminator steps + 1 autoencoder step, all counted by Lightning


@pytest.mark.parametrize("cls", [AdversarialAE, MMDVAE])
def test_max_steps_in_batches_is_stated_for_multi_step_models(cls, caplog: pytest.LogCaptureFixture) -> None:
    """The AAE's max_steps counts both players' steps; the log says how many batches that is."""
    model = cls(latent_dim=2, net={"name": "mlp", "hidden": [8]})
    x = torch.bernoulli(torch.rand(32, 1, 28, 28))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(32)), batch_size=8)
    trainer = L.Trainer(max_steps=6, max_epochs=-1, **QUIET_TRAINER, accelerator="cpu")
    with caplog.at_level(logging.INFO, logger="lightning.pytorch.utilities.rank_zero"):
        trainer.fit(model, train_dataloaders=loader)
    stated = [r.getMessage() for r in caplog.records if "optimizer steps a batch" in r.getMessage()]
    if cls is AdversarialAE:
        assert stated == [
            "AdversarialAE makes 2 optimizer steps a batch and trainer.max_steps counts each: max_steps=6 is "
            "3 batches. To match a model trained for N batches, set trainer.max_steps to 2·N."
        ]
        assert trainer.fit_loop.epoch_loop.batch_progress.total.completed == 3
    else:
        assert stated == []


@pytest.mark.parametrize("std_init", [None, 0.1, 2.0, 1000.0])
def test_std_init_is_the_untrained_encoders_sigma(std_init: float | None) -> None:
    torch.manual_seed(0)
    model = MMDVAE(latent_dim=4, net={"encoder": {"name": "mlp", "hidden": [32]}}, std_init=std_init)
    q = model.encoder(torch.rand(256, 1, 28, 28))
    expected = 1e-3 + math.log(2) if std_init is None else std_init  # softplus(0) = log 2
    assert q.std.median().item() == pytest.approx(expected, rel=0.2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"std_init": 1e-3}, "std_init must be > std_floor"),
        ({"std_init": 0.1, "alpha": 1.0, "deterministic": True}, "a deterministic encoder has none"),
    ],
)
def test_std_init_is_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MMDVAE(latent_dim=2, **kwargs)


def test_discriminator_learns_to_separate_shifted_codes() -> None:
    torch.manual_seed(0)
    model = AdversarialAE(latent_dim=2, net={"name": "mlp", "hidden": [8]})
    opt = torch.optim.Adam(model.discriminator.parameters(), lr=1e-2)
    for _ in range(200):
        loss = model.discriminator_loss(torch.randn(256, 2) + 3.0, torch.randn(256, 2))
        opt.zero_grad()
        loss.backward()
        opt.step()
    js = model.divergence(torch.randn(2000, 2) + 3.0).monitor
    # JS between N(0, I) and N(3·1, I) is close to its maximum, log 2 ≈ 0.693.
    assert 0.55 < float(js) <= 0.7
