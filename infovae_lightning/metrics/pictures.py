"""Pictures of the model: generated samples, reconstructions and, for a 2-D latent, q(z) against p(z).

Numbers say how far q(z) is from p(z); a picture says where: the paper's Figure 3 shows that an ELBO
VAE's aggregate posterior leaves holes in the prior (regions p(z) samples from but no x encodes to, whose
samples look like nothing), which InfoVAE fills. Every picture is a deterministic function of the weights
(fixed z, fixed examples, fixed subsample), so that changes from one epoch to the next are the model's.
Images go to PNG files and to TensorBoard/W&B (see `images.log_image`); nothing is logged as a number.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle
from torch import Tensor
from torchvision.utils import make_grid

from infovae_lightning.metrics.density import gaussian_mass_within, kernel_density, mass_levels
from infovae_lightning.metrics.evaluation import Evaluation, Metric
from infovae_lightning.metrics.images import log_image
from infovae_lightning.metrics.sharding import PRIOR_STREAM, chunk_generator
from infovae_lightning.protocols import decoded_mean, encode, latent_dim

SAMPLES_STREAM = PRIOR_STREAM - 1  # the z of the sample grid: its own stream, the same at every epoch
SUBSAMPLE_STREAM = PRIOR_STREAM - 2  # which points of the set the latent plot shows
PRIOR_SIGMAS = (1, 2, 3)
DENSITY_POINTS = 2000  # points of the q(z) density estimate: smooth enough contours, under a second to draw


class Pictures(Metric):
    """Logs `samples`, `reconstructions` (image data) and `latent_space` (2-D latent, any data).

    - `samples`: E[x|z] for `num_samples` fixed z ~ p(z), `nrow` per row.
    - `reconstructions`: the first `num_reconstructions` examples of the set and E[x | z = mean of q(z|x)],
      in pairs of rows: a row of `nrow` originals, then the row of their reconstructions, so each
      reconstruction sits right below its original.
    - `latent_space`: z ~ q(z|x) over the set (at most `max_points` of them, coloured by label where the
      set has labels) over the circles of 1, 2, 3 standard deviations of p(z) = N(0, I), with the contours
      of q(z)'s density that hold the circles' shares of mass (they lie on the circles when q(z) = p(z)).

    Returns no values; the paths of the PNG files go to `evaluation.notes["images"]`.
    """

    name = "pictures"

    def __init__(
        self,
        num_samples: int = 64,
        num_reconstructions: int = 32,
        nrow: int = 8,
        max_points: int = 5000,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        for key, value, least in (
            ("num_samples", num_samples, 0),
            ("num_reconstructions", num_reconstructions, 0),
            ("nrow", nrow, 1),
            ("max_points", max_points, 1),
        ):
            if value < least:
                raise ValueError(f"pictures: {key} must be >= {least}, got {value}")
        self.num_samples = num_samples
        self.num_reconstructions = num_reconstructions
        self.nrow = nrow
        self.max_points = max_points

    def check(self, model: L.LightningModule, datamodule: Any) -> None:
        shape = model.hparams.get("input_shape")
        if shape is not None and len(shape) != 3 and latent_dim(model) != 2:
            rank_zero_info("pictures: neither image data nor a 2-D latent, so there is nothing to draw")

    def evaluate(self, evaluation: Evaluation) -> dict[str, float]:
        model, trainer, stage = evaluation.model, evaluation.trainer, evaluation.stage
        pictures: dict[str, Tensor | Figure] = {}
        if latent_dim(model) == 2:
            encoding = evaluation.encoding  # on every rank: the encoding is computed by all of them
            if trainer.is_global_zero:
                step = trainer.global_step
                title = f"{stage}, step {step}: q(z) against p(z)"
                z, y = self.subsample(encoding.z.cpu(), evaluation.examples.y, evaluation.seed)
                pictures["latent_space"] = latent_figure(z, y, title)
        if is_image(evaluation.examples.x) and trainer.is_global_zero:
            if self.num_samples:
                pictures["samples"] = self.samples(evaluation)
            if self.num_reconstructions and len(evaluation):
                pictures["reconstructions"] = self.reconstructions(evaluation)
        paths = [log_image(trainer, f"{stage}/{key}", picture) for key, picture in pictures.items()]
        if any(paths):
            evaluation.notes["images"] = ", ".join(str(path) for path in paths if path is not None)
        return {}

    # --- the pictures ---------------------------------------------------------------------------------

    def samples(self, evaluation: Evaluation) -> Tensor:
        model, device = evaluation.model, evaluation.device
        generator = chunk_generator(evaluation.seed, SAMPLES_STREAM, device)
        z = torch.randn(self.num_samples, latent_dim(model), generator=generator, device=device)
        return grid(decoded_mean(model, z).reshape(-1, *evaluation.examples.x.shape[1:]), self.nrow)

    def reconstructions(self, evaluation: Evaluation) -> Tensor:
        model = evaluation.model
        x = evaluation.x(slice(0, min(self.num_reconstructions, len(evaluation))))
        recon = decoded_mean(model, encode(model, x).mean)
        ncol = min(self.nrow, x.shape[0])
        return grid(interleave_rows(x, recon.reshape(x.shape), ncol), ncol)

    def subsample(self, z: Tensor, y: Tensor, seed: int) -> tuple[Tensor, Tensor]:
        """At most `max_points` finite points, the same ones every time (a plot of them all is unreadable
        and slow to draw)."""
        if z.shape[0] > self.max_points:
            generator = chunk_generator(seed, SUBSAMPLE_STREAM, torch.device("cpu"))
            index = torch.randperm(z.shape[0], generator=generator)[: self.max_points]
            z, y = z[index], y[index]
        finite = torch.isfinite(z).all(dim=1)
        return z[finite], y[finite]


def is_image(x: Tensor) -> bool:
    """Whether examples `x` [N, ...] are images [N, C, H, W] (C = 1 or 3) that a grid can show."""
    return x.dim() == 4 and x.shape[1] in (1, 3)


MIN_SIDE = 28  # smaller images (8×8 digits) are enlarged, pixels kept square, so that a grid is legible


def grid(images: Tensor, nrow: int) -> Tensor:
    """[3, H, W] in [0, 1]; a Gaussian decoder's mean may leave [0, 1] and is clipped for display."""
    images = images.detach().float().clamp(0, 1).cpu()
    scale = math.ceil(MIN_SIDE / images.shape[-1])
    if scale > 1:
        images = images.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    return make_grid(images, nrow=nrow, padding=2)


def interleave_rows(originals: Tensor, reconstructions: Tensor, ncol: int) -> Tensor:
    """Rows of `ncol` originals, each followed by the row of their reconstructions; a short last row is
    padded with blank images so the pairs stay aligned."""
    pad = -originals.shape[0] % ncol
    if pad:
        blank = originals.new_zeros(pad, *originals.shape[1:])
        originals, reconstructions = torch.cat([originals, blank]), torch.cat([reconstructions, blank])
    rows = [t.reshape(-1, ncol, *t.shape[1:]) for t in (originals, reconstructions)]
    return torch.stack(rows, dim=1).reshape(-1, *originals.shape[1:])


def latent_figure(z: Tensor, y: Tensor, title: str) -> Figure:
    """A scatter of 2-D z over the 1, 2, 3 sigma circles of N(0, I), and q(z)'s contours holding the same
    shares of mass (a kernel density estimate of the points); colours are labels where all exist."""
    figure = Figure(figsize=(4.6, 4))
    ax = figure.add_axes((0.13, 0.12, 0.64, 0.78))
    z, y = z.float().numpy(), y.numpy()
    labelled = y.size > 0 and bool((y >= 0).all())
    style = dict(s=2 if len(z) > 1000 else 6, alpha=0.6, linewidths=0, rasterized=True, label="z ~ q(z|x)")
    if labelled:
        k = int(y.max()) + 1
        cmap = ListedColormap(colormaps["tab10"].colors[:k]) if k <= 10 else colormaps["viridis"].resampled(k)
        points = ax.scatter(z[:, 0], z[:, 1], c=y, cmap=cmap, **style)
        points.set_clim(-0.5, k - 0.5)
        colourbar = figure.colorbar(points, cax=figure.add_axes((0.8, 0.12, 0.03, 0.78)))
        colourbar.set_ticks(range(k) if k <= 10 else [])
        colourbar.set_label("label")
    else:
        ax.scatter(z[:, 0], z[:, 1], color="tab:blue", **style)
    for i, r in enumerate(PRIOR_SIGMAS):
        label = "p(z) = N(0, I): " + ", ".join(f"{s}σ" for s in PRIOR_SIGMAS) if i == 0 else None
        ax.add_patch(Circle((0, 0), r, fill=False, color="black", linestyle="--", linewidth=0.8, label=label))
    reach = float(abs(z).max()) * 1.05 if z.size else 0.0
    limit = max(PRIOR_SIGMAS[-1] + 0.5, reach) if math.isfinite(reach) else PRIOR_SIGMAS[-1] + 0.5
    handles = []
    estimate = kernel_density(z[:DENSITY_POINTS], limit)
    if estimate is not None:
        axis, density = estimate
        masses = [gaussian_mass_within(r) for r in PRIOR_SIGMAS]
        levels = mass_levels(density, masses)
        if levels:
            ax.contour(axis, axis, density, levels=levels, colors="tab:red", linewidths=1.0)
            label = "q(z): " + ", ".join(f"{m:.0%}" for m in masses) + " of its mass"
            handles.append(Line2D([], [], color="tab:red", linewidth=1.0, label=label))
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title(title, fontsize=9)
    ax.legend(
        handles=[*ax.get_legend_handles_labels()[0], *handles],
        loc="upper right",
        fontsize=7,
        markerscale=4,
        framealpha=0.8,
    )
    return figure
