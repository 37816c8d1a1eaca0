"""`mmd_full`: MMD(q(z), p(z)) between the whole evaluation set's latents and as many prior samples.

The paper measures how well the aggregate posterior q(z) = E_x q(z|x) matches the prior with MMD over the
full data set, not over minibatches (an average of minibatch MMDs is a different, upward-biased number).
With N = 70,000 latents the kernel matrices have 4.9·10⁹ entries, so they are never formed: the sums
Σ k(zᵢ, zⱼ), Σ k(z̃ᵢ, z̃ⱼ), Σ k(zᵢ, z̃ⱼ) are accumulated block by block (in float64), using the symmetry
of the first two, and the blocks are shared out among processes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from infovae_lightning.divergences.mmd import KERNELS, MMD, squared_distances
from infovae_lightning.metrics.evaluation import Evaluation, Metric
from infovae_lightning.metrics.sharding import PRIOR_STREAM, Shards, chunk_generator


def kernel_inplace(d2: Tensor, kernel: str, dim: int, bandwidth: float | None) -> Tensor:
    """`KERNELS[kernel]` applied to a block of squared distances, overwriting it where the kernel allows."""
    if kernel == "gaussian":  # exp(−‖x − y‖² / d²), as `gaussian_kernel`
        return d2.mul_(-1.0 / (dim * dim)).exp_()
    if kernel == "rbf":  # exp(−‖x − y‖² / 2h²), as `rbf_kernel`
        return d2.mul_(-0.5 / bandwidth**2).exp_()
    return KERNELS[kernel](d2, dim, bandwidth)


@torch.no_grad()  # a metric: the blocks are overwritten in place
def kernel_sum(
    x: Tensor,
    y: Tensor | None,
    kernel: str,
    bandwidth: float | None,
    block_size: int,
    shards: Shards | None = None,
) -> Tensor:
    """This process's share of Σᵢⱼ k(xᵢ, yⱼ) (y=None: y = x), in float64; shares add up to the total."""
    shards = shards or Shards()
    dim = x.shape[1]
    same = y is None
    y = x if y is None else y
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    block = 0
    for i in range(0, x.shape[0], block_size):
        # With y = x only blocks on or above the diagonal are computed; those above stand for two.
        for j in range(i if same else 0, y.shape[0], block_size):
            if shards.mine(block):
                xb = x[i : i + block_size]
                d2 = (
                    squared_distances(xb) if same and i == j else squared_distances(xb, y[j : j + block_size])
                )
                weight = 2.0 if same and i != j else 1.0
                # Row sums in the input precision (≤ block_size terms each), their total in float64.
                total += weight * kernel_inplace(d2, kernel, dim, bandwidth).sum(dim=1).sum(
                    dtype=torch.float64
                )
            block += 1
    return total


def full_mmd(
    z: Tensor,
    prior_z: Tensor,
    kernel: str = "gaussian",
    estimator: str = "biased",
    bandwidth: float | None = None,
    block_size: int = 4096,
    shards: Shards | None = None,
) -> float:
    """MMD² between all of `z` [n, d] and all of `prior_z` [m, d], equal to `MMD(...)(z, prior_z)` but
    in memory O(block_size²) rather than O(n²)."""
    MMD(kernel=kernel, estimator=estimator, bandwidth=bandwidth)  # validates the choices
    shards = shards or Shards()
    n, m = z.shape[0], prior_z.shape[0]
    sums = torch.stack(
        [
            kernel_sum(z, None, kernel, bandwidth, block_size, shards),
            kernel_sum(prior_z, None, kernel, bandwidth, block_size, shards),
            kernel_sum(z, prior_z, kernel, bandwidth, block_size, shards),
        ]
    )
    s_xx, s_yy, s_xy = shards.sum(sums).tolist()
    # Every kernel here depends on ‖x − y‖² only, so its diagonal is the constant k(0).
    k0 = float(KERNELS[kernel](torch.zeros(1, dtype=torch.float64), z.shape[1], bandwidth))
    if estimator == "biased":  # V-statistic: diagonals included
        return s_xx / n**2 + s_yy / m**2 - 2.0 * s_xy / (n * m)
    # U-statistic: diagonals excluded; every kernel here depends on ‖x − y‖² only, so they sum to n·k(0).
    k0 = float(KERNELS[kernel](torch.zeros(1, dtype=torch.float64), z.shape[1], bandwidth))
    return (s_xx - n * k0) / (n * (n - 1)) + (s_yy - m * k0) / (m * (m - 1)) - 2.0 * s_xy / (n * m)


class FullMMD(Metric):
    """Logs `mmd_full`: MMD² between z ~ q(z|x) for every x of the set and as many z̃ ~ p(z).

    Args (beyond `Metric`): the kernel, estimator and bandwidth, with the same choices as
    the MMD-VAE's training loss (`infovae_lightning.divergences.MMD`); `block_size`: side of the kernel
    blocks (memory ~ 3·block_size² floats).
    """

    name = "mmd_full"

    def __init__(
        self,
        kernel: str = "gaussian",
        estimator: str = "biased",
        bandwidth: float | None = None,
        block_size: int = 4096,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        MMD(kernel=kernel, estimator=estimator, bandwidth=bandwidth)  # fail at construction, not later
        self.kernel, self.estimator, self.bandwidth = kernel, estimator, bandwidth
        self.block_size = block_size

    def evaluate(self, evaluation: Evaluation) -> dict[str, float]:
        z = evaluation.encoding.z
        generator = chunk_generator(evaluation.seed, PRIOR_STREAM, evaluation.device)
        prior_z = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        value = full_mmd(
            z, prior_z, self.kernel, self.estimator, self.bandwidth, self.block_size, evaluation.shards
        )
        return {self.name: value}
