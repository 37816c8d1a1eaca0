"""Pictures: PNG files and TensorBoard images at the right sizes, which pictures for which model, and
logging failures that warn instead of ending training."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import lightning as L
import matplotlib
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from matplotlib.contour import ContourSet
from matplotlib.figure import Figure
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from infovae_lightning.data import InfoVAEDataModule
from infovae_lightning.data.examples import Examples
from infovae_lightning.metrics import Evaluator, Pictures
from infovae_lightning.metrics.density import gaussian_mass_within, kernel_density, mass_levels
from infovae_lightning.metrics.images import log_image
from infovae_lightning.metrics.pictures import interleave_rows, latent_figure
from infovae_lightning.models import MMDVAE

matplotlib.use("Agg")
SMALL_NET = {"name": "mlp", "hidden": [32]}
GRID = 8 * (28 + 2) + 2  # make_grid of 64 28x28 images, 8 per row, padding 2: 242 x 242


class FakeMNIST(InfoVAEDataModule):
    """Random labelled 28x28 "digits" held in memory: image data without files."""

    def __init__(self, root: Path) -> None:
        super().__init__(name="mnist", root=root, source="test", download=False, batch_size=32)

    def prepare_data(self) -> None:
        pass

    def _split(self, wanted: list[str]) -> dict[str, Examples]:
        sizes = {"train": 64, "val": 100, "test": 100}
        generator = torch.Generator().manual_seed(0)
        return {
            split: Examples(
                torch.rand(sizes[split], 1, 28, 28, generator=generator),
                torch.randint(0, 10, (sizes[split],), generator=generator),
            )
            for split in wanted
        }


def fit_and_test(tmp_path: Path, model: L.LightningModule, datamodule, pictures: Pictures, loggers=None):
    loggers = loggers or [
        CSVLogger(tmp_path, name="csv", version=""),
        TensorBoardLogger(tmp_path, name="tb", version=""),
    ]
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=2,
        limit_train_batches=2,
        limit_val_batches=1,
        limit_test_batches=1,
        num_sanity_val_steps=0,
        logger=loggers,
        callbacks=[Evaluator([pictures])],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=datamodule)
    trainer.test(model, datamodule=datamodule)
    return trainer


def image_files(tmp_path: Path) -> dict[str, Path]:
    return {path.stem.rsplit("_step", 1)[0]: path for path in (tmp_path / "images").glob("*.png")}


def tensorboard_images(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Image tag -> (step, width, height) of its last event."""
    events = EventAccumulator(str(folder), size_guidance={"images": 0})
    events.Reload()
    last = {tag: events.Images(tag)[-1] for tag in events.Tags()["images"]}
    return {tag: (event.step, event.width, event.height) for tag, event in last.items()}


def test_grids_and_latent_plot_go_to_png_and_tensorboard(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = MMDVAE(latent_dim=2, input_shape=[1, 28, 28], net=SMALL_NET)
    pictures = Pictures(num_samples=64, num_reconstructions=12, nrow=8)
    trainer = fit_and_test(tmp_path, model, FakeMNIST(tmp_path), pictures)

    files = image_files(tmp_path)
    stages = ("val", "test")
    assert set(files) == {f"{s}_{k}" for s in stages for k in ("samples", "reconstructions", "latent_space")}
    assert files["val_samples"].name == "val_samples_step000002.png"
    for stage in stages:
        assert Image.open(files[f"{stage}_samples"]).size == (GRID, GRID)
        # 12 originals, 8 per row: two pairs of (originals, reconstructions) rows, the last row padded.
        assert Image.open(files[f"{stage}_reconstructions"]).size == (GRID, 4 * 30 + 2)
        width, height = Image.open(files[f"{stage}_latent_space"]).size
        assert 300 < width < 600 and 300 < height < 600
    expected = {f"{s}/{k}" for s in stages for k in ("samples", "reconstructions", "latent_space")}
    logged = tensorboard_images(tmp_path / "tb")
    assert set(logged) == expected
    assert logged["test/samples"] == (2, GRID, GRID)
    assert not any(key.startswith(("val/samples", "test/samples")) for key in trainer.callback_metrics)

    # The same z every time: two evaluations at the same weights draw the same sample grid.
    (evaluator,) = [cb for cb in trainer.callbacks if isinstance(cb, Evaluator)]
    evaluation = evaluator.evaluation(trainer, model, pictures, "val")
    with torch.inference_mode():
        first, second = pictures.samples(evaluation), pictures.samples(evaluation)
        assert torch.equal(first, second)
        assert pictures.evaluate(evaluation) == {}
    assert len(evaluation.notes["images"].split(", ")) == 3


def test_reconstructions_sit_below_their_originals() -> None:
    originals = torch.arange(5.0).reshape(5, 1, 1, 1)
    grid = interleave_rows(originals, originals + 10, ncol=3)
    assert grid.flatten().tolist() == [0, 1, 2, 10, 11, 12, 3, 4, 0, 13, 14, 0]


def test_no_latent_plot_beyond_two_dimensions(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = MMDVAE(latent_dim=5, input_shape=[1, 28, 28], net=SMALL_NET)
    fit_and_test(tmp_path, model, FakeMNIST(tmp_path), Pictures(at_test=False, num_reconstructions=8))
    assert set(image_files(tmp_path)) == {"val_samples", "val_reconstructions"}


def test_toy_data_with_a_2d_latent_gets_only_the_latent_plot(tmp_path: Path) -> None:
    torch.manual_seed(0)
    toy = InfoVAEDataModule(name="toy", toy_size=64, val_size=50, test_size=50, batch_size=32)
    model = MMDVAE(latent_dim=2, input_shape=[1], net=SMALL_NET, likelihood={"name": "gaussian"})
    fit_and_test(tmp_path, model, toy, Pictures())
    assert set(image_files(tmp_path)) == {"val_latent_space", "test_latent_space"}


def test_a_failing_logger_warns_once_and_training_goes_on(tmp_path: Path) -> None:
    torch.manual_seed(0)
    broken = TensorBoardLogger(tmp_path, name="tb", version="")

    def refuse(*args, **kwargs) -> None:
        raise RuntimeError("disk full")

    broken.experiment.add_image = refuse
    model = MMDVAE(latent_dim=2, input_shape=[1, 28, 28], net=SMALL_NET)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = fit_and_test(tmp_path, model, FakeMNIST(tmp_path), Pictures(), loggers=[broken])
    assert trainer.state.finished and trainer.global_step == 2
    failures = [w for w in caught if "could not log image" in str(w.message)]
    assert len(failures) == 1 and "disk full" in str(failures[0].message)
    assert len(image_files(tmp_path)) == 6  # the PNG files are written all the same


def direct_trainer(tmp_path: Path, loggers: list) -> L.Trainer:
    return L.Trainer(accelerator="cpu", logger=loggers, default_root_dir=tmp_path, enable_progress_bar=False)


def test_log_image_takes_a_grid_tensor(tmp_path: Path) -> None:
    tensorboard = TensorBoardLogger(tmp_path, name="tb", version="")
    trainer = direct_trainer(tmp_path, [CSVLogger(tmp_path, name="csv", version=""), tensorboard])
    path = log_image(trainer, "val/grid", torch.rand(1, 10, 12))
    assert path == tmp_path / "images" / "val_grid_step000000.png"
    picture = Image.open(path)
    assert picture.size == (12, 10) and picture.mode == "RGB"
    tensorboard.experiment.flush()
    assert tensorboard_images(tmp_path / "tb") == {"val/grid": (0, 12, 10)}


def test_log_image_renders_and_closes_a_figure(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    trainer = direct_trainer(tmp_path, [CSVLogger(tmp_path, name="csv", version="")])
    figure = Figure(figsize=(3, 2))
    figure.add_subplot().plot([0, 1], [1, 0])
    assert Image.open(log_image(trainer, "test/figure", figure)).size == (300, 200)
    assert not figure.axes  # freed

    managed = plt.figure(figsize=(2, 2))
    log_image(trainer, "test/pyplot", managed)
    assert managed.number not in plt.get_fignums()  # no figure left behind in pyplot


def test_log_image_hands_wandb_an_rgb_array(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wandb = WandbLogger(offline=True, save_dir=str(tmp_path))
    calls: list[dict] = []
    monkeypatch.setattr(wandb, "log_image", lambda **kwargs: calls.append(kwargs))
    log_image(direct_trainer(tmp_path, [wandb]), "val/grid", torch.rand(3, 10, 12))
    (call,) = calls
    assert call["key"] == "val/grid" and call["step"] == 0
    (image,) = call["images"]
    assert image.shape == (10, 12, 3) and str(image.dtype) == "uint8"


def test_density_contours_of_the_prior_lie_on_its_circles() -> None:
    """For z ~ N(0, I), the region of q(z)'s estimated density holding 86% of the mass (p(z)'s share inside
    2σ) is close to the disc of radius 2: the contours are comparable with the circles drawn beside them."""
    z = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0)).numpy()
    axis, density = kernel_density(z, limit=4.0)
    cell = (axis[1] - axis[0]) ** 2
    for radius in (1, 2):
        (level,) = mass_levels(density, [gaussian_mass_within(radius)])
        area = (density >= level).sum() * cell
        assert area == pytest.approx(math.pi * radius**2, rel=0.2)
    assert kernel_density(np.zeros((100, 2)), limit=4.0) is None  # a collapsed q(z) has no density to draw


def test_latent_plot_draws_the_contours_of_q_z() -> None:
    z = torch.randn(3000, 2, generator=torch.Generator().manual_seed(1)) * 0.5 + 1.0
    figure = latent_figure(z, torch.full((3000,), -1), "q(z)")
    (ax,) = [a for a in figure.axes if a.get_xlabel() == "z1"]
    contours = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(contours) == 1 and len(contours[0].levels) == 3
    assert "q(z): 39%, 86%, 99% of its mass" in [t.get_text() for t in ax.get_legend().get_texts()]
