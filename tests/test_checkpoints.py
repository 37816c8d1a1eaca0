"""Checkpoints load with weights_only, fine-tuning uses the new values, resuming refuses changed ones, a NaN
stops training naming its term, and training randomness depends on its position only (exact resume)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import QUIET_TRAINER
from lightning.pytorch.callbacks import ModelCheckpoint

from infovae_lightning.data import InfoVAEDataModule
from infovae_lightning.errors import CheckpointError, NonFiniteLossError
from infovae_lightning.models import ELBOVAE, MMDVAE, AdversarialAE, SteinVAE
from infovae_lightning.run.checkpoints import (
    MODEL_CLASS_KEY,
    LatestCheckpoint,
    check_fits,
    check_same_run,
    import_class,
    load_model,
    read_checkpoint,
    saved_checkpoints,
)
from infovae_lightning.run.seeding import BatchSeeding

TOY = {"input_shape": [1], "likelihood": {"name": "gaussian", "learn_sigma": True}, "latent_dim": 2}


def toy_data(**kwargs) -> InfoVAEDataModule:
    return InfoVAEDataModule("toy", toy_size=400, val_size=100, batch_size=50, **kwargs)


def fit(
    model: L.LightningModule, tmp_path: Path, epochs: int = 1, extra: list[L.Callback] = (), **kwargs
) -> L.Trainer:
    trainer = L.Trainer(
        max_epochs=epochs,
        default_root_dir=tmp_path,
        callbacks=[
            ModelCheckpoint(dirpath=tmp_path / "checkpoints", monitor="val/loss"),
            LatestCheckpoint(dirpath=tmp_path / "checkpoints"),
            BatchSeeding(0),
            *extra,
        ],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )
    trainer.fit(model, datamodule=toy_data())
    return trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A trained MMD-VAE's last checkpoint."""
    tmp = tmp_path_factory.mktemp("trained")
    L.seed_everything(0, verbose=False)
    fit(MMDVAE(**TOY), tmp, epochs=2)
    return tmp / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize("cls", [ELBOVAE, MMDVAE, SteinVAE, AdversarialAE])
def test_every_checkpoint_holds_plain_hyperparameters(cls, tmp_path: Path) -> None:
    trainer = fit(cls(**TOY), tmp_path, limit_train_batches=2, limit_val_batches=1)
    path = saved_checkpoints(trainer)["last"]
    raw = torch.load(path, weights_only=True)  # raises on anything but plain data and tensors
    assert raw["infovae_model_class"].endswith(cls.__name__)
    mlp = {"name": "mlp", "hidden": [200, 200, 200]}
    assert raw["hyper_parameters"]["net"] == {"encoder": mlp, "decoder": mlp}  # defaults filled in
    model = load_model(path)  # whichever class it is
    assert type(model) is cls and model.hparams == raw["hyper_parameters"]


def test_fine_tuning_starts_from_the_weights_and_uses_the_new_values(trained: Path, tmp_path: Path) -> None:
    original = load_model(trained)
    model = MMDVAE(**TOY, lam=10.0, init_from=str(trained), freeze="encoder")
    seen = {}

    class Spy(L.Callback):
        def on_train_start(self, trainer, pl_module) -> None:  # after on_fit_start, before the first step
            seen["decoder"] = [p.detach().clone() for p in pl_module.decoder.parameters()]
            seen["optimizer_state"] = dict(trainer.optimizers[0].state)

    trainer = fit(model, tmp_path, extra=[Spy()])
    # It started from the checkpoint's weights, with a fresh optimizer.
    for ours, theirs in zip(seen["decoder"], original.decoder.parameters(), strict=True):
        assert torch.equal(ours, theirs)
    assert seen["optimizer_state"] == {}
    # The frozen encoder is the checkpoint's still; the decoder trained.
    for ours, theirs in zip(model.encoder.parameters(), original.encoder.parameters(), strict=True):
        assert torch.equal(ours, theirs) and not ours.requires_grad
    assert any(
        not torch.equal(a, b)
        for a, b in zip(model.decoder.parameters(), original.decoder.parameters(), strict=True)
    )
    assert all(p.requires_grad for p in model.decoder.parameters())
    # The new lambda is the one in the hparams, the checkpoint and the loss:
    # −L = recon + (1−α)·KL + (α+λ−1)·D with the preset's α = 1.
    tuned = load_model(saved_checkpoints(trainer)["last"])
    assert tuned.hparams.lam == 10.0 and tuned.hparams.init_from == str(trained)
    x = torch.tensor([[1.0], [-1.0]] * 50)
    torch.manual_seed(0)
    terms = tuned.terms(x)
    assert terms.loss.item() == pytest.approx((-terms.log_px + 10.0 * terms.div.value).item(), rel=1e-6)


def test_a_loaded_or_resumed_model_is_not_overwritten_by_init_from(trained: Path, tmp_path: Path) -> None:
    model = MMDVAE(**TOY, lam=10.0, init_from=str(trained))
    trainer = fit(model, tmp_path, limit_train_batches=3, limit_val_batches=1)
    tuned_path = saved_checkpoints(trainer)["last"]
    tuned = load_model(tuned_path)
    weights = [p.detach().clone() for p in tuned.parameters()]
    # Fitting the loaded model further continues from its own weights, not from `init_from`'s.
    tuned.on_fit_start()
    assert all(torch.equal(a, b) for a, b in zip(weights, tuned.parameters(), strict=True))


def test_checkpoints_that_do_not_fit_are_refused(trained: Path, tmp_path: Path) -> None:
    ckpt = read_checkpoint(trained)
    with pytest.raises(CheckpointError, match="holds a MMDVAE, not a ELBOVAE"):
        check_fits(ELBOVAE(**TOY), ckpt)
    with pytest.raises(CheckpointError, match="has latent_dim=2, the MMDVAE has latent_dim=3"):
        check_fits(MMDVAE(**{**TOY, "latent_dim": 3}), ckpt)
    with pytest.raises(CheckpointError, match=r"does not fit the MMDVAE: .*coder.* \(they differ in net\)"):
        check_fits(MMDVAE(**TOY, net={"name": "mlp", "hidden": [64]}), ckpt)
    with pytest.raises(CheckpointError, match="model.lam=10.0 differs from its 1000.0.*model.init_from="):
        check_same_run(MMDVAE(**TOY, lam=10.0), ckpt)
    check_same_run(MMDVAE(**TOY), ckpt)  # the same values: fine
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nothing.ckpt")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(trained.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated.ckpt cannot be read"):
        read_checkpoint(truncated)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a checkpoint of an infovae-lightning model"):
        read_checkpoint(foreign)


class PoisonedKL(ELBOVAE):
    """An ELBO whose KL turns NaN at training step `at`."""

    def __init__(self, at: int = 10, **kwargs) -> None:
        super().__init__(**kwargs)
        self.at = at

    def terms(self, x):
        terms = super().terms(x)
        if self.training and self.global_step == self.at:
            terms.kl = terms.kl * float("nan")
            terms.loss = terms.loss * float("nan")
        return terms


def test_a_nan_stops_training_naming_the_term_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    model = PoisonedKL(at=12, **TOY)  # epoch 1 (8 batches an epoch)
    with pytest.raises(
        NonFiniteLossError, match=r"non-finite kl at training step 12, epoch 1, batch 4 \(recon="
    ):
        fit(model, tmp_path, epochs=3)
    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert files == ["epoch=0-step=8.ckpt", "last.ckpt"]  # nothing written after the NaN
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 8
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values())


def test_the_discriminator_loss_is_guarded_too(tmp_path: Path) -> None:
    model = AdversarialAE(**TOY)
    with torch.no_grad():
        model.discriminator.layers[1].weight.fill_(float("inf"))
    with pytest.raises(NonFiniteLossError, match="non-finite disc"):
        fit(model, tmp_path, num_sanity_val_steps=0)


def test_training_order_and_binarization_depend_on_the_epoch_only(offline_data: Path) -> None:
    def epoch_batches(epoch: int, warm_up: int) -> list[torch.Tensor]:
        dm = InfoVAEDataModule(
            "mnist", root=offline_data, source="test", binarize="dynamic", train_size=300, seed=4
        )
        dm.setup("fit")
        loader = dm.train_dataloader()
        for e in range(warm_up):  # epochs this process ran before (none when resumed)
            loader.sampler.set_epoch(e)
            list(loader)
        loader.sampler.set_epoch(epoch)
        return [x for x, _ in loader]

    uninterrupted, resumed = epoch_batches(2, warm_up=2), epoch_batches(2, warm_up=0)
    assert all(torch.equal(a, b) for a, b in zip(uninterrupted, resumed, strict=True))
    assert not torch.equal(epoch_batches(1, warm_up=0)[0], resumed[0])


def test_batch_seeding_makes_model_noise_a_function_of_position() -> None:
    class Stub:
        global_rank, current_epoch = 0, 3

    seeding = BatchSeeding(seed=5)
    seeding.on_train_batch_start(Stub(), None, None, 7)
    first = torch.randn(4)
    torch.randn(100)  # whatever ran in between
    seeding.on_train_batch_start(Stub(), None, None, 7)
    assert torch.equal(torch.randn(4), first)
    seeding.on_train_batch_start(Stub(), None, None, 8)
    assert not torch.equal(torch.randn(4), first)


OLD_CHECKPOINTS = sorted((Path(__file__).parent / "data" / "checkpoints").glob("*.ckpt"))


@pytest.mark.parametrize("path", OLD_CHECKPOINTS, ids=lambda p: p.stem)
def test_checkpoints_of_earlier_versions_load_and_resume(path: Path, tmp_path: Path) -> None:
    """Checkpoints written by earlier versions (toy MMD-VAEs, one step of training) load with their weights,
    and resuming them with the values they were saved with continues the run, as before the change."""
    assert OLD_CHECKPOINTS, "tests/data/checkpoints holds no checkpoint"
    raw = torch.load(path, map_location="cpu", weights_only=True)
    model = load_model(path)
    for key, value in raw["state_dict"].items():
        assert torch.equal(model.state_dict()[key], value), key
    # What train.py builds when given the run's own values: today's defaults for keys the file lacks.
    rebuilt = import_class(raw[MODEL_CLASS_KEY])(**raw["hyper_parameters"])
    check_same_run(rebuilt, read_checkpoint(path))
    trainer = L.Trainer(max_epochs=raw["epoch"] + 2, default_root_dir=tmp_path, **QUIET_TRAINER)
    trainer.fit(rebuilt, datamodule=toy_data(), ckpt_path=str(path))
    assert trainer.current_epoch == raw["epoch"] + 2 and trainer.global_step > raw["global_step"]
