"""The fast paths: data held and batched on the training device, `model.compile`, bf16 mixed precision.

The GPU tests skip without CUDA; they are the ones to run on a GPU machine (docs/benchmarks.md says how).
"""

from __future__ import annotations

import csv
import functools
import json
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import compose_config

from infovae_lightning.data import InfoVAEDataModule
from infovae_lightning.models import ELBOVAE, MMDVAE, AdversarialAE, SteinVAE, base
from infovae_lightning.models.base import compile_options
from infovae_lightning.run.checkpoints import check_resumable, read_checkpoint
from infovae_lightning.run.train import run

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
TINY = {"latent_dim": 2, "input_shape": [1, 28, 28], "net": {"name": "mlp", "hidden": [16]}}


def epoch_batches(datamodule: InfoVAEDataModule, epoch: int = 1) -> list[torch.Tensor]:
    loader = datamodule.train_dataloader()
    loader.sampler.set_epoch(epoch)
    return [x for x, _ in loader]


def attached(datamodule: InfoVAEDataModule, accelerator: str) -> InfoVAEDataModule:
    datamodule.trainer = L.Trainer(accelerator=accelerator, devices=1, logger=False)
    datamodule.setup("fit")
    return datamodule


# --- data on the device ---------------------------------------------------------------------------------


def test_on_a_cpu_the_data_stays_in_host_memory_unpinned(binarized_root: Path) -> None:
    dm = attached(InfoVAEDataModule("binarized_mnist", root=binarized_root, batch_size=500), "cpu")
    assert dm.loader_device() is None
    loader = dm.train_dataloader()
    assert not loader.pin_memory
    assert next(iter(loader))[0].device.type == "cpu"


def test_the_device_path_serves_the_host_paths_batches(binarized_root: Path, monkeypatch) -> None:
    """The device path's mechanics (a copy per split, made once; indexing where the data is), with the host
    standing in for the GPU; the GPU itself is checked by the CUDA test below."""
    host = attached(InfoVAEDataModule("binarized_mnist", root=binarized_root, batch_size=500), "cpu")
    device = attached(InfoVAEDataModule("binarized_mnist", root=binarized_root, batch_size=500), "cpu")
    monkeypatch.setattr(InfoVAEDataModule, "loader_device", lambda self: torch.device("cpu"))
    batches = epoch_batches(device)
    assert device.train_dataloader().dataset is device.train_dataloader().dataset  # copied once
    assert all(torch.equal(a, b) for a, b in zip(batches, epoch_batches(host), strict=True))


def test_on_device_is_off_with_worker_processes_or_when_asked(binarized_root: Path) -> None:
    for options in ({"num_workers": 1}, {"on_device": False}):
        dm = InfoVAEDataModule("binarized_mnist", root=binarized_root, **options)
        dm.trainer = L.Trainer(accelerator="cpu", logger=False)
        assert dm.loader_device() is None


@needs_cuda
def test_gpu_batches_equal_the_host_batches(binarized_root: Path) -> None:
    kwargs = {"name": "binarized_mnist", "root": binarized_root, "batch_size": 500}
    gpu = attached(InfoVAEDataModule(**kwargs), "gpu")
    host = attached(InfoVAEDataModule(**kwargs, on_device=False), "gpu")
    assert gpu.loader_device().type == "cuda" and host.loader_device() is None
    loader = gpu.train_dataloader()
    assert loader.dataset.examples.x.is_cuda and not loader.pin_memory
    assert host.train_dataloader().pin_memory
    for epoch in (0, 3):
        on_gpu, on_host = epoch_batches(gpu, epoch), epoch_batches(host, epoch)
        assert all(x.is_cuda for x in on_gpu)
        assert all(torch.equal(a.cpu(), b) for a, b in zip(on_gpu, on_host, strict=True))
    assert torch.equal(next(iter(gpu.val_dataloader()))[0].cpu(), next(iter(host.val_dataloader()))[0])


@needs_cuda
def test_dynamic_binarization_on_the_gpu(offline_data: Path) -> None:
    def datamodule() -> InfoVAEDataModule:
        kwargs = {
            "root": offline_data,
            "source": "test",
            "binarize": "dynamic",
            "batch_size": 1000,
            "seed": 3,
        }
        return attached(InfoVAEDataModule("mnist", **kwargs), "gpu")

    dm = datamodule()
    intensities = dm.datasets["train"].examples.x
    a, b = epoch_batches(dm, 1), epoch_batches(datamodule(), 1)
    assert all(x.is_cuda for x in a)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))  # reproducible: (seed, epoch)
    assert not torch.equal(a[0], epoch_batches(dm, 2)[0])  # redrawn each epoch
    x = torch.cat(a).cpu()
    assert set(x.unique().tolist()) == {0.0, 1.0}
    assert x.mean().item() == pytest.approx(intensities.mean().item(), abs=3e-3)


# --- compile and bf16 ------------------------------------------------------------------------------------


@pytest.fixture
def quick_compile(monkeypatch) -> list:
    """torch.compile with the aot_eager backend: dynamo's tracing and AOTAutograd's joint graph, as inductor
    gets them, in seconds instead of a C++ build (inductor itself: the CUDA test, and bench/throughput.py).
    The list it gives holds each function compiled, in order."""
    compiled: list = []
    aot_eager = functools.partial(torch.compile, backend="aot_eager")

    def recording_compile(fn, **kwargs):
        compiled.append(fn)
        return aot_eager(fn, **kwargs)

    monkeypatch.setattr(torch, "compile", recording_compile)
    return compiled


@pytest.mark.parametrize("cls", [ELBOVAE, MMDVAE, SteinVAE, AdversarialAE])
def test_compiled_terms_equal_eager_terms(cls, quick_compile) -> None:
    torch.manual_seed(0)
    model = cls(**TINY, compile=True)
    x = torch.bernoulli(torch.full((16, 1, 28, 28), 0.3))
    torch.manual_seed(1)
    compiled = model.terms(x)
    torch.manual_seed(1)
    eager = model.eager_terms(x)
    assert quick_compile == [model.eager_terms]  # compiled once, on the first call
    torch.testing.assert_close(compiled.loss, eager.loss)
    torch.testing.assert_close(
        compiled.div.monitor if compiled.div else 0.0, eager.div.monitor if eager.div else 0.0
    )


@pytest.mark.parametrize("cls", [ELBOVAE, MMDVAE, SteinVAE, AdversarialAE])
def test_under_bf16_autocast_the_loss_terms_are_float32(cls) -> None:
    torch.manual_seed(0)
    model = cls(**TINY)
    x = torch.bernoulli(torch.full((64, 1, 28, 28), 0.3))
    seen = {}
    divergence = model.divergence

    def spy(z: torch.Tensor):
        seen.update(dtype=z.dtype, autocast=torch.is_autocast_enabled("cpu"))
        return divergence(z)

    model.divergence = spy
    torch.manual_seed(1)
    reference = model.terms(x).loss
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = model.terms(x)
    assert terms.loss.dtype == torch.float32 and terms.log_px.dtype == torch.float32
    assert seen == {"dtype": torch.float32, "autocast": False}  # D is computed outside autocast
    # The networks ran in bf16 (8 bits of mantissa): the loss agrees to about 1%.
    torch.testing.assert_close(terms.loss, reference, rtol=2e-2, atol=0.5)


def test_compile_and_bf16_switches_compose_and_train(tmp_path: Path, quick_compile) -> None:
    overrides = ["model=mmd", "model.compile=true", "trainer.precision=bf16-mixed", "trainer.max_steps=3"]
    overrides += ["data.toy_size=200", "data.batch_size=50", "metrics=none", "logger=none"]
    overrides += ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
    cfg = compose_config(overrides, output_dir=tmp_path)
    metrics = run(cfg)
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["global_step"] == 3
    # compile is how the model runs, not what it is: resuming without it is the same run.
    ckpt = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert ckpt.hparams["compile"] is True
    check_resumable({**ckpt.hparams, "compile": False}, ckpt)


def test_inductor_layout_optimization_is_off_on_cuda_only(monkeypatch) -> None:
    """On CUDA it broke the conv net's compiled backward (see `compile_options`); elsewhere it is kept."""
    assert compile_options("cuda") == {"options": {"layout_optimization": False}}
    assert compile_options("cpu") == {}
    # ... and `terms` compiles with the options of the batch's device.
    given = []
    monkeypatch.setattr(base, "compile_options", lambda device_type: {"options": {"for": device_type}})
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: (given.append(kwargs), fn)[1])
    MMDVAE(**TINY, compile=True).terms(torch.bernoulli(torch.full((8, 1, 28, 28), 0.3)))
    assert given == [{"options": {"for": "cpu"}}]


@needs_cuda
@pytest.mark.parametrize(
    "net, batch_size, precision",
    [("mlp", 100, "bf16-mixed"), ("conv", 100, "bf16-mixed"), ("conv", 500, "32-true")],
)
def test_gpu_fit_with_the_data_on_device_compiled(
    binarized_root: Path, net: str, batch_size: int, precision: str, tmp_path: Path
) -> None:
    """Inductor itself, on the GPU, with the data there. The conv net at batch 500 in float32 is the case
    whose compiled backward failed with Inductor's layout optimization (see `compile_options`)."""
    overrides = [f"net={net}", "data=binarized_mnist", f"data.root={binarized_root}", "trainer=gpu"]
    overrides += [f"data.batch_size={batch_size}", f"trainer.precision={precision}", "model.compile=true"]
    overrides += ["trainer.max_steps=20", "metrics=none", "logger=none", "trainer.limit_val_batches=2"]
    metrics = run(compose_config([*overrides, "latent_dim=5"], output_dir=tmp_path))
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))
    assert metrics["train/loss"] < 540  # 784·log 2 ≈ 543 nats: it has started to learn


# --- per-step overhead ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [MMDVAE, AdversarialAE])
def test_training_logs_the_steps_a_logger_receives_and_the_last(cls, tmp_path: Path) -> None:
    """`self.log` runs on every log_every_n_steps-th step, on an epoch's last batch and on fit's last step
    only: the CSV holds the same rows as when every step logged, and the final values are the last step's."""
    from lightning.pytorch.loggers import CSVLogger

    model = cls(
        latent_dim=1, input_shape=[1], net={"name": "mlp", "hidden": [8]}, likelihood={"name": "gaussian"}
    )
    calls = []
    log = model.log
    model.log = lambda name, *a, **k: (calls.append((model.global_step, name)), log(name, *a, **k))[1]
    steps_per_batch = model.optimizer_steps_per_batch()
    trainer = L.Trainer(
        max_steps=23 * steps_per_batch,  # 20 batches an epoch: the last batch of epoch 0, then 3 into epoch 1
        log_every_n_steps=5,
        logger=CSVLogger(tmp_path),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(model, datamodule=InfoVAEDataModule(name="toy", toy_size=200, batch_size=10))
    # global_step when logging: after the batch's optimizer steps for the AAE (manual), before them otherwise.
    done = steps_per_batch if cls is AdversarialAE else 0
    batches = sorted({(step - done) // steps_per_batch for step, name in calls if name == "train/loss"})
    # Every 5th batch (0-based 4, 9, ...); 19 is also the epoch's last; 22 is fit's last.
    assert batches == [4, 9, 14, 19, 22]
    # The CSV holds the rows Lightning writes when every step logs: every 5th step.
    with open(Path(trainer.logger.log_dir) / "metrics.csv", newline="") as f:
        written = [int(row["step"]) for row in csv.DictReader(f) if row["train/loss"]]  # steps count batches
    assert written == [4, 9, 14, 19]
    assert "train/loss" in trainer.callback_metrics and "train/div" in trainer.callback_metrics


@pytest.mark.parametrize("cls", [ELBOVAE, AdversarialAE])
def test_adam_is_fused_on_a_cpu(cls) -> None:
    """torch's default Adam loops over the parameters on a CPU; every optimizer here is the fused one."""
    optimizers = cls(**TINY).configure_optimizers()
    for optimizer in optimizers if isinstance(optimizers, list) else [optimizers]:
        assert isinstance(optimizer, torch.optim.Adam)
        assert all(group["fused"] for group in optimizer.param_groups)
