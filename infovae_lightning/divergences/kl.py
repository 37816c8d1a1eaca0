"""Analytic KL divergence of a diagonal Gaussian posterior to the standard normal prior."""

from __future__ import annotations

import torch
from torch import Tensor


def gaussian_kl_to_standard_normal(mean: Tensor, std: Tensor) -> Tensor:
    """KL(N(mean, diag std²) ‖ N(0, I)), summed over the last (latent) dimension.

    Per dimension, KL = ½(μ² + σ² − 1) − log σ  (Kingma & Welling 2014, App. B).
    ``log σ`` is taken from ``std`` directly rather than via ``½ log σ²``: squaring a small σ
    first can underflow in float32, while callers already floor ``std`` above zero.

    Args:
        mean: posterior means, shape ``[..., d]``.
        std: posterior standard deviations (> 0), broadcastable to ``mean``.

    Returns:
        KL per sample, shape ``[...]`` (``[B]`` for ``[B, d]`` inputs).
    """
    kl = 0.5 * (mean.square() + std.square() - 1.0) - torch.log(std)
    return kl.sum(dim=-1)
