"""Stein variational gradient (SVGD) for matching q(z) to the prior p(z) = N(0, I).

InfoVAE App. B trains the encoder with Stein variational gradient descent (Liu & Wang 2016): with
an RBF kernel k, the direction in the unit ball of the kernel's RKHS that most decreases KL(q ‖ p) is

    φ*(z) = E_{z'~q} [ k(z', z) ∇_{z'} log p(z') + ∇_{z'} k(z', z) ],

estimated with the n encoder samples. Moving every sample z_i along +φ*(z_i) pulls q towards p
(first term: attraction to high prior density; second: repulsion between samples).

Kernel: k(a, b) = exp(−‖a − b‖² / h), h = med² / log(n + 1) (Liu & Wang's median heuristic,
computed without gradient) unless a fixed h is given. For p = N(0, I), ∇ log p(z) = −z.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from infovae_lightning.divergences.mmd import squared_distances

KSD_ESTIMATORS: tuple[str, ...] = ("unbiased", "biased")


def _check_particles(z: Tensor) -> None:
    if z.ndim != 2:
        raise ValueError(f"expected samples of shape [n, d], got {tuple(z.shape)}")


def _median(values: Tensor) -> Tensor:
    """np.median semantics: the mean of the two middle values for an even count.

    (torch.median returns the lower middle value instead.)
    """
    v = values.flatten().sort().values
    k = v.numel()
    return 0.5 * (v[(k - 1) // 2] + v[k // 2])


@torch.no_grad()
def median_heuristic_bandwidth(z: Tensor) -> Tensor:
    """h = med² / log(n + 1) for the kernel exp(−‖a − b‖² / h).

    As in Liu & Wang's reference SVGD code, med² is the median of the full n × n matrix of squared
    pairwise distances (zero diagonal included). A pair at the median distance then has
    k = 1/(n + 1), so roughly Σ_{j≠i} k(z_i, z_j) ≈ 1: a sample's own gradient is balanced against its
    neighbours' (Liu & Wang 2016, Sec. 5). Floored at the dtype's machine epsilon so that a collapsed
    batch (med = 0) does not divide by zero.
    """
    _check_particles(z)
    n = z.shape[0]
    h = _median(squared_distances(z.detach())) / math.log(n + 1)
    return h.clamp_min(torch.finfo(z.dtype).eps)


def _kernel_and_bandwidth(z: Tensor, bandwidth: float | None) -> tuple[Tensor, Tensor, Tensor]:
    """Detached (squared distances, kernel matrix K[i, j] = k(z_i, z_j), bandwidth h)."""
    _check_particles(z)
    z = z.detach()
    d2 = squared_distances(z)
    if bandwidth is None:
        h = median_heuristic_bandwidth(z)
    else:
        if not bandwidth > 0:
            raise ValueError(f"Stein kernel bandwidth must be > 0, got {bandwidth!r}")
        h = torch.tensor(float(bandwidth), dtype=z.dtype, device=z.device)
    return d2, torch.exp(-d2 / h), h


def _svgd_direction(z: Tensor, k: Tensor, h: Tensor) -> Tensor:
    # With ∇_{z_j} k(z_j, z_i) = −(2/h)(z_j − z_i) k_ji and K symmetric:
    #   n·φ*(z_i) = Σ_j k_ij (−z_j) + (2/h) Σ_j k_ij (z_i − z_j)
    #             = −(K z)_i + (2/h) [ (Σ_j k_ij) z_i − (K z)_i ].
    n = z.shape[0]
    kz = k @ z
    return (-kz + (2.0 / h) * (k.sum(dim=1, keepdim=True) * z - kz)) / n


@torch.no_grad()
def svgd_direction(z: Tensor, bandwidth: float | None = None) -> Tensor:
    """Stein variational gradient φ*(z_i) for p = N(0, I), shape [n, d], detached.

    φ*(z_i) = (1/n) Σ_j [ k(z_j, z_i) (−z_j) + ∇_{z_j} k(z_j, z_i) ]  (Liu & Wang 2016, eq. 8),
    in closed form (no autograd). ``bandwidth=None`` uses the median heuristic.
    """
    _, k, h = _kernel_and_bandwidth(z, bandwidth)
    return _svgd_direction(z.detach(), k, h)


def _stein_kernel(z: Tensor, d2: Tensor, k: Tensor, h: Tensor) -> Tensor:
    # Stein kernel for score s(z) = −z and k = exp(−r²/h), r² = ‖x − y‖² (Liu, Lee & Jordan 2016):
    #   u(x, y) = s(x)ᵀs(y) k + s(x)ᵀ∇_y k + s(y)ᵀ∇_x k + tr(∇_x∇_y k)
    #           = k [ xᵀy − 2r²/h + 2d/h − 4r²/h² ],
    # using ∇_x k = −(2/h)(x − y)k, ∇_y k = +(2/h)(x − y)k, tr ∇_x∇_y k = k(2d/h − 4r²/h²).
    dim = z.shape[1]
    return k * (z @ z.T - 2.0 * d2 / h + 2.0 * dim / h - 4.0 * d2 / h**2)


@torch.no_grad()
def kernelized_stein_discrepancy(
    z: Tensor, bandwidth: float | None = None, estimator: str = "unbiased"
) -> Tensor:
    """Squared kernelized Stein discrepancy KSD²(q, N(0, I)) from samples z [n, d], detached.

    KSD² = E_{x, y ~ q} u(x, y) with the Stein kernel u built from the same RBF kernel (and bandwidth)
    as ``svgd_direction``; it is 0 iff q = p. ``unbiased`` (default) is the U-statistic over i ≠ j
    (Liu, Lee & Jordan 2016, eq. 14): unbiased, ≈ 0 for samples from p, can be slightly negative.
    ``biased`` is the V-statistic over all i, j: ≥ 0 but biased upward by O(1/n).
    """
    if estimator not in KSD_ESTIMATORS:
        raise ValueError(f"unknown KSD estimator {estimator!r}; valid choices: {list(KSD_ESTIMATORS)}")
    d2, k, h = _kernel_and_bandwidth(z, bandwidth)
    return _ksd_from_stein_kernel(_stein_kernel(z.detach(), d2, k, h), estimator)


def _ksd_from_stein_kernel(u: Tensor, estimator: str) -> Tensor:
    n = u.shape[0]
    if estimator == "biased":
        return u.mean()
    if n < 2:
        raise ValueError("the unbiased KSD estimator needs at least 2 samples")
    return (u.sum() - u.diagonal().sum()) / (n * (n - 1))


class SteinDivergence(nn.Module):
    """SVGD surrogate loss pushing encoder samples towards N(0, I), plus a KSD for monitoring.

    ``forward(z)`` returns ``(surrogate, ksd)``:

    * ``surrogate = −(1/n) Σ_i stopgrad(φ*(z_i)) · z_i``. Its autograd gradient w.r.t. z_i is
      −φ*(z_i)/n, so *minimizing* it (gradient descent) moves each z_i along +φ*(z_i), the Stein
      variational gradient; backpropagated into the encoder this is App. B's
      ∇_θ ≈ −(1/n) Σ_i φ*(z_i)ᵀ ∂z_i/∂θ. Add it to a loss that is minimized.
      The surrogate's *value* is not a divergence (it depends on where z sits, can be any sign, and
      is not 0 at q = p); only its gradient is meaningful.
    * ``ksd``: the U-statistic KSD² (see ``kernelized_stein_discrepancy``) with the same kernel and
      bandwidth, detached. This is the number to log as "how far is q(z) from p(z)".

    Args:
        bandwidth: fixed h for k(a, b) = exp(−‖a − b‖²/h); ``None`` = median heuristic per batch.
    """

    def __init__(self, bandwidth: float | None = None) -> None:
        super().__init__()
        if bandwidth is not None and not bandwidth > 0:
            raise ValueError(f"Stein kernel bandwidth must be > 0, got {bandwidth!r}")
        self.bandwidth = None if bandwidth is None else float(bandwidth)

    def extra_repr(self) -> str:
        return f"bandwidth={self.bandwidth}"

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        # Kernel and bandwidth are computed once and shared by φ* and the KSD.
        d2, k, h = _kernel_and_bandwidth(z, self.bandwidth)
        with torch.no_grad():
            z_detached = z.detach()
            phi = _svgd_direction(z_detached, k, h)
            ksd = _ksd_from_stein_kernel(_stein_kernel(z_detached, d2, k, h), "unbiased")
        surrogate = -(phi * z).sum() / z.shape[0]
        return surrogate, ksd
