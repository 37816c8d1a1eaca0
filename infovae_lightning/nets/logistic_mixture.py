"""The discretized logistic mixture likelihood of PixelCNN++ (Salimans et al., 2017) for 8-bit images.

Each pixel's intensity x ∈ {0, 1/255, …, 1} is read on [−1, 1] (y = 2x − 1) and given the probability mass
of its bin of width 2/255 under a mixture of K logistics (PixelCNN++ eq. 2):

    p(y | π, μ, s) = Σ_k π_k [σ((y + 1/255 − μ_k) / s_k) − σ((y − 1/255 − μ_k) / s_k)],

with the edge bins taking the whole tail (y = −1: from −∞; y = 1: to +∞). The channels of a pixel are
modelled one after the other inside each component: μ_k,c + Σ_{j<c} a_k,cj · y_j (PixelCNN++ eq. 3, for any
number of channels), so a colour pixel is a joint distribution, not three independent ones.

Parameters per pixel, for C channels and K components: K logits π, K·C means, K·C log-scales and
K·C(C−1)/2 coefficients a, stacked along the channel axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from infovae_lightning.nets.likelihoods import Likelihood

HALF_BIN = 1.0 / 255.0  # half a bin of 256 levels on [−1, 1]
MIN_LOG_SCALE = -7.0  # as PixelCNN++: keeps 1/s finite
DEFAULT_COMPONENTS = 10  # PixelCNN++'s choice


class DiscretizedLogisticMixture(Likelihood):
    """log p(x|params) for images of shape (C, H, W) with intensities k/255 in [0, 1]."""

    def __init__(self, shape: Sequence[int], components: int = DEFAULT_COMPONENTS) -> None:
        super().__init__()
        if components < 1:
            raise ValueError(f"likelihood components must be >= 1, got {components}")
        self.channels, self.components = int(shape[0]), components

    @property
    def discrete_log_offset(self) -> float | None:
        return 0.0  # log p is already the probability mass of the pixel's bin

    def params_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        c, k = self.channels, self.components
        return (k * (1 + 2 * c + c * (c - 1) // 2), *shape[1:])

    def _split(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """params [B, P, H, W] → logits [B,K,H,W], μ and log s [B,K,C,H,W], a [B,K,C(C−1)/2,H,W]."""
        b, _, *spatial = params.shape
        c, k = self.channels, self.components
        logits, means, log_scales, coeffs = params.split([k, k * c, k * c, k * (c * (c - 1) // 2)], dim=1)
        means = means.reshape(b, k, c, *spatial)
        log_scales = log_scales.reshape(b, k, c, *spatial).clamp(min=MIN_LOG_SCALE)
        return logits, means, log_scales, torch.tanh(coeffs.reshape(b, k, -1, *spatial))

    def _conditional_means(self, means: Tensor, coeffs: Tensor, y: Tensor) -> Tensor:
        """μ_k,c + Σ_{j<c} a_k,cj · y_j, with y [B, C, H, W] the pixel's earlier channels."""
        shifted, pair = [means[:, :, 0]], 0
        for c in range(1, self.channels):
            shift = sum(coeffs[:, :, pair + j] * y[:, None, j] for j in range(c))
            shifted.append(means[:, :, c] + shift)
            pair += c
        return torch.stack(shifted, dim=2)

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        logits, means, log_scales, coeffs = self._split(params)
        y = 2.0 * x - 1.0
        centered = y[:, None] - self._conditional_means(means, coeffs, y)
        inv_scale = torch.exp(-log_scales)
        upper, lower = inv_scale * (centered + HALF_BIN), inv_scale * (centered - HALF_BIN)
        log_cdf_upper = upper - F.softplus(upper)  # log σ(upper): the y = −1 bin, −∞ to its upper edge
        log_sf_lower = -F.softplus(lower)  # log (1 − σ(lower)): the y = 1 bin, its lower edge to ∞
        mass = torch.sigmoid(upper) - torch.sigmoid(lower)
        # Where the bin's mass underflows (a very narrow logistic far from the bin), the density at its centre
        # times the bin width stands in for it, as in PixelCNN++.
        middle = inv_scale * centered
        log_density = middle - log_scales - 2.0 * F.softplus(middle) + math.log(2 * HALF_BIN)
        log_mass = torch.where(mass > 1e-5, torch.log(mass.clamp(min=1e-12)), log_density)
        log_bin = torch.where(
            y[:, None] < -0.999, log_cdf_upper, torch.where(y[:, None] > 0.999, log_sf_lower, log_mass)
        )
        per_component = log_bin.sum(dim=2) + F.log_softmax(logits, dim=1)  # channels of a pixel: a product
        return torch.logsumexp(per_component, dim=1).flatten(1).sum(1)

    def sample(self, params: Tensor) -> Tensor:
        logits, means, log_scales, coeffs = self._split(params)
        # One component per pixel (Gumbel-max), then the channels in order, each given the ones before it.
        gumbel = -torch.log(-torch.log(torch.rand_like(logits).clamp(1e-5, 1 - 1e-5)))
        pick = F.one_hot((logits + gumbel).argmax(dim=1), self.components).movedim(-1, 1)[:, :, None]
        means, log_scales, coeffs = ((t * pick).sum(1, keepdim=True) for t in (means, log_scales, coeffs))
        y = torch.zeros_like(means[:, 0])
        for c in range(self.channels):
            u = torch.rand_like(y[:, c]).clamp(1e-5, 1 - 1e-5)
            mean = self._conditional_means(means, coeffs, y)[:, 0, c]
            y[:, c] = (mean + torch.exp(log_scales[:, 0, c]) * (torch.log(u) - torch.log1p(-u))).clamp(-1, 1)
        return torch.round((y + 1) / 2 * 255) / 255  # back to the 256 levels of [0, 1]

    def mean(self, params: Tensor) -> Tensor:
        """The mixture's mean intensity (of the unclamped logistics, each channel given the earlier means)."""
        logits, means, _, coeffs = self._split(params)
        weights = torch.softmax(logits, dim=1)[:, :, None]
        conditional = torch.zeros_like(means)
        for c in range(self.channels):
            expected = (weights * conditional).sum(1)  # E[y_j] of the channels before c
            conditional[:, :, c] = self._conditional_means(means, coeffs, expected)[:, :, c]
        y = (weights * conditional).sum(1).clamp(-1, 1)
        return (y + 1) / 2
