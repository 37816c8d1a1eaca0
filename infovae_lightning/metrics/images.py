"""Logging one picture to every logger a trainer has, without ever stopping training.

A picture is a float tensor [C, H, W] in [0, 1] (a `make_grid` output) or a matplotlib `Figure`. It always
goes to a PNG file `<default_root_dir>/images/<key>_step<step>.png`, so that a run with only the CSV
logger (which cannot hold images) still has its pictures; TensorBoard and W&B get it too. Pictures are a
diagnostic: a logger that fails on one (a full disk, a W&B hiccup) gets a warning, once, never an
exception that would end a long run.
"""

from __future__ import annotations

import warnings
import weakref
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor

FIGURE_DPI = 100  # a 4-inch figure is 400 px: enough to read, cheap to draw and to store every epoch

_warned_loggers: weakref.WeakSet[Logger] = weakref.WeakSet()  # loggers that already failed once
_warned_paths: set[Path] = set()  # image folders that could not be written to


def to_rgb(image: Tensor | Figure) -> np.ndarray:
    """The picture as an [H, W, 3] uint8 array; a Figure is rendered (Agg, no pyplot) and then closed."""
    if isinstance(image, Figure):
        return render_figure(image)
    if not isinstance(image, Tensor) or image.dim() != 3 or image.shape[0] not in (1, 3):
        raise TypeError(f"expected a [C, H, W] tensor with C in (1, 3) or a Figure, got {describe(image)}")
    chw = image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
    if chw.shape[0] == 1:
        chw = chw.expand(3, -1, -1)
    return chw.permute(1, 2, 0).contiguous().numpy()


def render_figure(figure: Figure, dpi: int = FIGURE_DPI) -> np.ndarray:
    """Draws `figure` with the Agg canvas (whatever the interactive backend) and frees it."""
    in_pyplot = from_pyplot(figure)  # before the Agg canvas replaces pyplot's
    canvas = FigureCanvasAgg(figure)
    figure.set_dpi(dpi)
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    close(figure, in_pyplot)
    return rgb


def from_pyplot(figure: Figure) -> bool:
    return getattr(figure.canvas, "manager", None) is not None


def close(figure: Figure, in_pyplot: bool | None = None) -> None:
    """Frees a figure; one made by pyplot also has to leave pyplot's registry, or it leaks."""
    if from_pyplot(figure) if in_pyplot is None else in_pyplot:
        import matplotlib.pyplot as plt

        plt.close(figure)
    figure.clear()


def image_path(trainer: L.Trainer, key: str) -> Path:
    """Where `key`'s picture at the current step goes: one file per key and step."""
    name = key.replace("/", "_")
    return Path(trainer.default_root_dir) / "images" / f"{name}_step{trainer.global_step:06d}.png"


def log_image(trainer: L.Trainer, key: str, image: Tensor | Figure) -> Path | None:
    """Logs `image` under `key` to a PNG file and to the trainer's TensorBoard and W&B loggers.

    Returns the PNG's path, or None on ranks other than 0 (which log nothing) and when the file could not
    be written. Loggers that hold no images (CSV) are skipped. Failures are warned about, never raised.
    """
    if not trainer.is_global_zero:
        if isinstance(image, Figure):
            close(image)
        return None
    rgb = to_rgb(image)
    step = trainer.global_step
    path = write_png(image_path(trainer, key), rgb)
    for logger in trainer.loggers:
        try:
            send(logger, key, rgb, step)
        except Exception as error:  # noqa: BLE001  (a picture must never end training)
            if logger not in _warned_loggers:
                _warned_loggers.add(logger)
                warnings.warn(
                    f"could not log image {key!r} to {type(logger).__name__} ({error!r}); "
                    "further image failures of this logger are not reported",
                    stacklevel=2,
                )
    return path


def send(logger: Logger, key: str, rgb: np.ndarray, step: int) -> None:
    """One picture to one logger, in the form that logger takes."""
    if isinstance(logger, TensorBoardLogger):
        logger.experiment.add_image(key, rgb, step, dataformats="HWC")
    elif isinstance(logger, WandbLogger):
        # Lightning sends `step` as the `trainer/global_step` value, not as W&B's own step, so a picture
        # logged at a step W&B has already passed raises no step-ordering warning.
        logger.log_image(key=key, images=[rgb], step=step)


def write_png(path: Path, rgb: np.ndarray) -> Path | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(path)
    except OSError as error:
        if path.parent not in _warned_paths:
            _warned_paths.add(path.parent)
            warnings.warn(f"could not write image {path} ({error!r})", stacklevel=3)
        return None
    return path


def describe(value: Any) -> str:
    return f"tensor of shape {list(value.shape)}" if isinstance(value, Tensor) else type(value).__name__
