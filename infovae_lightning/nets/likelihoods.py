"""Per-pixel observation models p(x|z) given the decoder network's output."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Likelihood(nn.Module):
    """log p(x | params) summed over every non-batch dimension, sampling, and the mean of x."""

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        raise NotImplementedError

    def sample(self, params: Tensor) -> Tensor:
        raise NotImplementedError

    def mean(self, params: Tensor) -> Tensor:
        raise NotImplementedError

    def params_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """The shape of the decoder output that parametrises p(x) for x of `shape`: a value per pixel here."""
        return tuple(shape)


def _sum_event(t: Tensor) -> Tensor:
    return t.flatten(1).sum(1)


class BernoulliLikelihood(Likelihood):
    """x ∈ {0,1}; the decoder outputs logits (BCE-with-logits is the stable form of log p)."""

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        return -_sum_event(F.binary_cross_entropy_with_logits(params, x, reduction="none"))

    def sample(self, params: Tensor) -> Tensor:
        return torch.bernoulli(torch.sigmoid(params))

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params)


class GaussianLikelihood(Likelihood):
    """x real; the decoder outputs the mean, σ is fixed or learned per pixel (independent of z)."""

    def __init__(self, shape: Sequence[int], sigma: float = 1.0, learn_sigma: bool = False) -> None:
        super().__init__()
        if sigma <= 0:
            raise ValueError(f"likelihood sigma must be > 0, got {sigma}")
        log_sigma = torch.full(tuple(shape), math.log(sigma))
        if learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        log_sigma = self.log_sigma.expand_as(params)
        z2 = ((x - params) * torch.exp(-log_sigma)) ** 2
        return _sum_event(-0.5 * z2 - log_sigma - 0.5 * math.log(2 * math.pi))

    def sample(self, params: Tensor) -> Tensor:
        return params + torch.exp(self.log_sigma) * torch.randn_like(params)

    def mean(self, params: Tensor) -> Tensor:
        return params
