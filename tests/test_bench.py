"""The benchmark harness measures what it claims: its bare loop computes our module's loss, and the
Throughput callback counts the steps it times. (Speed itself is measured by bench/, never asserted here.)"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from infovae_lightning.data import InfoVAEDataModule
from infovae_lightning.models import MMDVAE

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bare_loop import BareModel, BareTrainer  # noqa: E402
from bench.common import Case, compose  # noqa: E402
from bench.lightning_floor import bare_step, lightning_step  # noqa: E402
from bench.paired import PairedBareLoop  # noqa: E402
from bench.timing import Throughput  # noqa: E402


def _module_and_bare(model: str, net: str) -> tuple[L.LightningModule, BareModel, dict]:
    cfg = compose(Case(model, net, batch_size=8, steps=1, latent_dim=3, data_root="unused"))
    torch.manual_seed(0)
    module = instantiate(cfg["model"], _convert_="all")
    bare = BareModel(cfg["model"], model)
    # The same weights: the bare networks are the module's own classes, so their state dicts match.
    bare.encoder.load_state_dict(module.encoder.net.state_dict())
    bare.decoder.load_state_dict(module.decoder.net.state_dict())
    if model == "aae":
        bare.discriminator.load_state_dict(module.discriminator.state_dict())
    return module, bare, cfg["model"]


@pytest.mark.parametrize("net", ["mlp", "conv"])
@pytest.mark.parametrize("model", ["elbo", "mmd", "stein", "aae"])
def test_bare_loop_loss_is_our_modules_loss(model: str, net: str) -> None:
    module, bare, _ = _module_and_bare(model, net)
    x = torch.bernoulli(torch.full((8, 1, 28, 28), 0.3), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    ours = module.terms(x).loss
    torch.manual_seed(5)  # the same noise: both draw ε for z, then the prior samples, in that order
    theirs = bare.loss(x)
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-4)
    # ... and the same gradients, so the bare loop's steps are our steps.
    ours.backward()
    theirs.backward()
    for a, b in [(module.encoder.net, bare.encoder), (module.decoder.net, bare.decoder)]:
        for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5, msg=f"{model} {net} {name}")


def test_bare_aae_discriminator_step_is_our_modules() -> None:
    module, bare, _ = _module_and_bare("aae", "mlp")
    z = torch.randn(8, 3)
    torch.manual_seed(2)
    ours = module.discriminator_loss(z, module.sample_prior(8))
    torch.manual_seed(2)
    torch.testing.assert_close(bare.discriminator_loss(z), ours)


def test_bare_trainer_steps_every_optimizer() -> None:
    for model in ("mmd", "aae"):
        _, bare, model_cfg = _module_and_bare(model, "mlp")
        before = [p.detach().clone() for p in bare.parameters()]
        BareTrainer(bare, model_cfg).step(torch.bernoulli(torch.full((8, 1, 28, 28), 0.3)))
        assert all(not torch.equal(a, p) for a, p in zip(before, bare.parameters(), strict=True)), model
        assert all(p.requires_grad for p in bare.parameters())


def test_throughput_times_steps_within_epochs(tmp_path: Path) -> None:
    """20 batches an epoch: after 3 warm-up steps, the first step of each later epoch is left out."""
    datamodule = InfoVAEDataModule(name="toy", toy_size=200, batch_size=10)
    net = {"name": "mlp", "hidden": [8]}
    module = MMDVAE(latent_dim=1, input_shape=[1], net=net, likelihood={"name": "gaussian"})
    timer = Throughput(warmup=3, path=str(tmp_path / "t.json"), stop_after=30)
    trainer = L.Trainer(
        max_epochs=5, callbacks=[timer], logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    trainer.fit(module, datamodule=datamodule)
    result = json.loads((tmp_path / "t.json").read_text())
    # Batches 4..20 of epoch 0 (17 steps), batch 1 of epoch 1 skipped, then 13 more: fit stops at 30.
    assert (result["steps"], result["skipped"], result["images"]) == (30, 1, 300)
    assert trainer.global_step == 3 + 30 + 1
    assert result["seconds"] > 0 and result["images_per_s"] > 0
    assert result["peak_rss_mb"] > 0


def test_paired_windows_alternate_within_epochs(tmp_path: Path) -> None:
    """20 batches an epoch, windows of 4 after 3 warm-up steps: 4 pairs in epoch 0, the window cut by its end
    (and validation) dropped, 2 more pairs in epoch 1, then fit stops."""
    datamodule = InfoVAEDataModule(name="toy", toy_size=200, batch_size=10)
    module = MMDVAE(latent_dim=1, input_shape=[1], net={"name": "mlp", "hidden": [8]})
    paired = PairedBareLoop("mmd", str(tmp_path / "p.json"), window=4, pairs=6, warmup=3)
    trainer = L.Trainer(
        max_epochs=5, callbacks=[paired], logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    trainer.fit(module, datamodule=datamodule)
    result = json.loads((tmp_path / "p.json").read_text())
    assert (result["pairs"], result["dropped"], result["batch_size"]) == (6, 1, 10)
    assert trainer.global_step == 20 + 1 + 2 * 4  # epoch 0, the step that starts epoch 1's windows, 2 windows
    assert all(a > 0 and b > 0 for a, b in result["times"])
    assert result["ratio"] == pytest.approx(statistics.median(b / a for a, b in result["times"]))
    assert paired.windows.bare.model.kind == "mmd"


def test_lightning_floor_times_both_loops() -> None:
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(101, 1)), batch_size=1)
    assert bare_step(loader, 100) > 0 and lightning_step(loader, 100) > 0  # seconds a step; speed: bench/


def test_throughput_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="warmup"):
        Throughput(warmup=-1)
    with pytest.raises(ValueError, match="stop_after"):
        Throughput(stop_after=0)
