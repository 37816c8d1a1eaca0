"""MMD-VAE: D = MMD(q(z), p(z)), estimated between the batch's posterior samples and prior samples.

The paper's preferred member of the family. α=1, λ=1000 by default: the paper's model comparison (Section
5.2) and the authors' code; with α=0 the same λ leaves z nearly unused for thousands of steps (the batch
MMD's gradient noise dominates the encoder's updates; measurements in docs/results.md).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from infovae_lightning.divergences import MMD
from infovae_lightning.models.base import Divergence, InfoVAE
from infovae_lightning.models.registry import ModelSpec, register_model


class MMDVAE(InfoVAE):
    """Args beyond `InfoVAE`: the MMD kernel (`gaussian`, `rbf`, `imq`), its `bandwidth` (rbf only),
    the `estimator` (`biased` V-statistic as the authors, or `unbiased` U-statistic), how squared
    distances are computed (`matmul` or `cdist`), and `prior_samples` (default: the batch size; per process
    under DDP)."""

    def __init__(
        self,
        kernel: str = "gaussian",
        estimator: str = "biased",
        bandwidth: float | None = None,
        distance: str = "matmul",
        prior_samples: int | None = None,
        alpha: float = 1.0,
        lam: float = 1000.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(alpha=alpha, lam=lam, **kwargs)
        if prior_samples is not None and prior_samples <= 0:
            raise ValueError(f"prior_samples must be > 0, got {prior_samples}")
        self.mmd = MMD(kernel=kernel, estimator=estimator, bandwidth=bandwidth, distance=distance)

    def divergence(self, z: Tensor) -> Divergence:
        prior = self.sample_prior(self.hparams.prior_samples or z.shape[0])
        mmd = self.mmd(self.global_batch(z), self.global_batch(prior))  # the global batch under DDP
        return Divergence(mmd, mmd)


register_model(ModelSpec("mmd", MMDVAE, "MMDConf"))
