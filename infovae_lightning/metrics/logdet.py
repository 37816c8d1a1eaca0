"""`logdet_cov_per_dim`: log det Cov[z] over z ~ q(z|x) for the whole evaluation set, divided by dim z.

The paper uses it to show the ELBO's aggregate posterior shrinking away from the prior as the training set
gets small (its Figure 4): for q(z) = N(0, I) the covariance is I and the value is 0; a q(z) squeezed onto
a lower-dimensional set tends to −∞. Dividing by the dimension makes latent sizes comparable.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from infovae_lightning.metrics.evaluation import Evaluation, Metric


def logdet_cov_per_dim(z: Tensor) -> float:
    """log det of the sample covariance of `z` [n, d] (float64, n − 1 normalisation), divided by d.

    −inf when the covariance is singular (e.g. a collapsed latent dimension, or n ≤ d).
    """
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"need z of shape [n >= 2, d], got {tuple(z.shape)}")
    cov = torch.atleast_2d(torch.cov(z.to(torch.float64).T))
    sign, logabsdet = torch.linalg.slogdet(cov)
    return logabsdet.item() / z.shape[1] if sign.item() > 0 else -math.inf


class LogDetCovariance(Metric):
    """Logs `logdet_cov_per_dim` of z ~ q(z|x) over the evaluation set."""

    name = "logdet_cov_per_dim"

    def evaluate(self, evaluation: Evaluation) -> dict[str, float]:
        return {self.name: logdet_cov_per_dim(evaluation.encoding.z)}
