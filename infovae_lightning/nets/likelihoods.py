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

    @property
    def discrete_log_offset(self) -> float | None:
        """Nats per dimension to add to −log p(x) to get −log P(x) of the discrete data (0 when log p is
        already a probability mass), from which bits/dim follow; None for continuous data."""
        return None


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

    @property
    def discrete_log_offset(self) -> float | None:
        return 0.0


# The likelihoods of discrete pixels: those an autoregressive decoder (PixelCNN) can use.
DISCRETE_LIKELIHOODS = ("bernoulli", "logistic_mixture")
GREY_SIGMA = math.sqrt(0.5)  # σ² = ½: the authors' Gaussian decoder on [0, 1] pixel intensities


SIGMA_FLOOR = 0.01  # on the [0, 1] scale: 2.55 grey levels of 8-bit data


def default_sigma_min(levels: int | None) -> float:
    """The floor of a learned σ on data of L levels: `SIGMA_FLOOR`, or one level if coarser; none on
    continuous data."""
    return 0.0 if levels is None else max(SIGMA_FLOOR, 1.0 / (levels - 1))


class GaussianLikelihood(Likelihood):
    """x real; the decoder outputs the mean, σ is fixed or learned per pixel (independent of z).

    On continuous data (`levels=None`) log p is the Gaussian density of x. On quantized data (`levels=L`:
    x ∈ {0, 1/(L−1), …, 1}, e.g. L = 256 for 8-bit images) a density of x alone is not a density of the data:
    its mass sits on L points, and a learned σ shrinks towards 0 around the values seen in training
    (+∞ nats there, −∞ on a held-out value it did not see). So x is read as a bin of width 1/(L−1) around its
    value, and log p is the density of the *dequantized* pixel on the [0, 1]
    scale (Theis et al. 2016), in nats:

    - at training (`self.training`), the Gaussian density at x + u, u ~ U(−½, ½)/(L−1) within the pixel's
      bin: an unbiased estimate of E_u log p(x + u), whose maximum is log(L−1) a pixel;
    - at evaluation, the same model integrated exactly over the bin: log P(bin) + log(L−1), where
      P(bin) = Φ((x+½/(L−1)−μ)/σ) − Φ((x−½/(L−1)−μ)/σ). Deterministic, and above the training estimate by
      Jensen's gap only (under 1/24 nat a pixel for σ of one grey level or more). The bins hold the
      Gaussian's mass on [−½, L−½]/(L−1) only (the edge bins do not take the tails), so −log P(x) of the
      discrete image, that NLL + D·log(L−1) (`discrete_log_offset`), is an upper bound for the model.

    The bound on σ: a learned σ is σ_min + exp(ℓ), never below `sigma_min` (default on quantized data:
    `default_sigma_min`, 0.01 on 8-bit data). A floor rather than a σ produced from z: held-out images put
    ink on pixels blank in every training image, where a σ from z would be as narrow as a per-pixel one; the
    floor bounds what such a pixel costs, about (x/σ_min)²/2 nats, at any schedule. Dequantization alone
    would let σ reach the bin's own spread, 1/(√12·(L−1)). No floor stops a decoder that overfits a small
    training set from being overconfident on held-out images; the default is the measured choice between
    one grey level and 0.01 (docs/likelihoods.md).
    A fixed σ is used as given.
    """

    def __init__(
        self,
        shape: Sequence[int],
        sigma: float = GREY_SIGMA,
        learn_sigma: bool = False,
        sigma_min: float | None = None,
        levels: int | None = None,
    ) -> None:
        super().__init__()
        if levels is not None and levels < 2:
            raise ValueError(f"likelihood levels must be >= 2 (or null for continuous data), got {levels}")
        if sigma_min is None:
            sigma_min = default_sigma_min(levels)
        if sigma_min < 0:
            raise ValueError(f"likelihood sigma_min must be >= 0, got {sigma_min}")
        if sigma <= (sigma_min if learn_sigma else 0.0):
            floor = f" (above sigma_min={sigma_min:g} when learned)" if learn_sigma else ""
            raise ValueError(f"likelihood sigma must be > 0{floor}, got {sigma}")
        self.levels = levels
        self.sigma_min = float(sigma_min) if learn_sigma else 0.0
        # log(σ − σ_min): log σ itself when there is no floor (a fixed σ, or continuous data).
        log_sigma = torch.full(tuple(shape), math.log(sigma - self.sigma_min))
        if learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    @property
    def sigma(self) -> Tensor:
        """σ per pixel, never below `sigma_min`."""
        sigma = torch.exp(self.log_sigma)
        return sigma + self.sigma_min if self.sigma_min else sigma

    @property
    def discrete_log_offset(self) -> float | None:
        """Nats per pixel to add to −log p(x|z) for −log P(x|z) of the discrete pixels, log(L−1); None when
        the data are continuous (no bits/dim)."""
        return None if self.levels is None else math.log(self.levels - 1)

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        if self.levels is not None:
            half = 0.5 / (self.levels - 1)
            if not self.training:
                return _sum_event(_log_bin_mass(x, params, self.sigma, half)) + x[0].numel() * math.log(
                    self.levels - 1
                )
            x = x + half * (2 * torch.rand_like(x) - 1)  # dequantized: uniform within the pixel's bin
        if self.sigma_min:
            sigma = self.sigma.expand_as(params)
            z2 = ((x - params) / sigma) ** 2
            return _sum_event(-0.5 * z2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi))
        log_sigma = self.log_sigma.expand_as(params)
        z2 = ((x - params) * torch.exp(-log_sigma)) ** 2
        return _sum_event(-0.5 * z2 - log_sigma - 0.5 * math.log(2 * math.pi))

    def sample(self, params: Tensor) -> Tensor:
        return params + self.sigma * torch.randn_like(params)

    def mean(self, params: Tensor) -> Tensor:
        return params


def _log_bin_mass(x: Tensor, mean: Tensor, sigma: Tensor, half: float) -> Tensor:
    """log P(x − half < X ≤ x + half) for X ~ N(mean, σ²), per element.

    Computed on the side of the bin that is below the mean (mirrored otherwise), as
    log Φ(b) + log(1 − Φ(a)/Φ(b)) with log Φ from `log_ndtr`: accurate deep in the tails and for narrow bins.
    """
    lo = (x - half - mean) / sigma
    hi = (x + half - mean) / sigma
    mirror = lo + hi > 0
    a = torch.where(mirror, -hi, lo)
    b = torch.where(mirror, -lo, hi)
    log_b = torch.special.log_ndtr(b)
    return log_b + torch.log(-torch.expm1(torch.special.log_ndtr(a) - log_b))
