"""How much the model uses its latent code: `kl_full`, `mi` and `active_units` over the evaluation set.

- `kl_full`: E_x KL(q(z|x) ‖ p(z)), the term the ELBO pays for encoding (analytic for Gaussian posteriors),
  over the whole set in float64; `kl` is the model's own term, averaged over the loader's batches.
- `mi`: the mutual information I_q(x; z) under the joint q(x, z) = p_data(x) q(z|x) of the evaluation set,
  E_x E_{q(z|x)} [log q(z|x) − log q(z)], with the aggregate posterior q(z) = 1/N Σⱼ q(z|xⱼ) evaluated
  exactly over the set (Hoffman & Johnson 2016's decomposition: E KL(q(z|x)‖p) = I_q(x;z) + KL(q(z)‖p)).
  The paper's information-preference argument is about this quantity: an ELBO with a powerful decoder
  drives it to 0. It is estimated with one z per x, so it is at most log N.
- `active_units`: dimensions whose posterior mean varies across x by more than 0.01 (Burda et al. 2016,
  Var_x E_{q(z|x)}[z_d] > 0.01): dimensions below it carry no information about x.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from infovae_lightning.divergences import gaussian_kl_to_standard_normal
from infovae_lightning.metrics.evaluation import Evaluation, Metric
from infovae_lightning.metrics.sharding import Shards
from infovae_lightning.nets.encoder import Posterior

LOG_2PI = math.log(2 * math.pi)


def average_kl(mean: Tensor, std: Tensor) -> float:
    """E_x KL(q(z|x) ‖ N(0, I)) over the rows."""
    return gaussian_kl_to_standard_normal(mean.double(), std.double()).mean().item()


class GaussianMixtureLogDensity:
    """log q(zᵢ | xⱼ) of many z under every posterior j of the set: a [b, N] matrix per block of z.

    Expanding Σ_d (z_d − μ_jd)² / σ²_jd into z²·(1/σ²)ᵀ − 2 z·(μ/σ²)ᵀ + Σ μ²/σ² turns it into two matrix
    products (float64: the expansion cancels, and σ can be small) written into one buffer.
    """

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        mean, var = mean.double(), std.double().square()
        self.inv_var_t = (1 / var).T.contiguous()  # [d, N]
        self.mean_over_var_t = (mean / var).T.contiguous()  # [d, N]
        # Everything that depends on j only: Σ μ²/σ² + Σ log σ² + d log 2π, so log q = −½ (quadratic + this).
        self.offset = ((mean.square() / var).sum(-1) + var.log().sum(-1) + mean.shape[1] * LOG_2PI)[None]

    def __call__(self, z: Tensor) -> Tensor:
        z = z.double()
        out = torch.addmm(self.offset, z.square(), self.inv_var_t)
        return out.addmm_(z, self.mean_over_var_t, alpha=-2.0).mul_(-0.5)


def mutual_information(
    mean: Tensor, std: Tensor, z: Tensor, block_size: int = 1000, shards: Shards | None = None
) -> float:
    """I_q(x; z) ≈ 1/N Σᵢ [log q(zᵢ|xᵢ) − log (1/N Σⱼ q(zᵢ|xⱼ))], zᵢ ~ q(z|xᵢ); O(N²·d) in row blocks."""
    shards = shards or Shards()
    n = z.shape[0]
    log_q = GaussianMixtureLogDensity(mean, std)
    total = torch.zeros((), dtype=torch.float64, device=z.device)
    for block, start in enumerate(range(0, n, block_size)):
        if shards.mine(block):
            rows = slice(start, start + block_size)
            own = Posterior(mean[rows].double(), std[rows].double()).log_prob(z[rows].double())
            total += (own - (torch.logsumexp(log_q(z[rows]), dim=1) - math.log(n))).sum()
    return shards.sum(total).item() / n


def active_units(mean: Tensor, threshold: float = 0.01) -> int:
    """Number of latent dimensions with Var_x E[z_d | x] > threshold."""
    return int((mean.double().var(dim=0) > threshold).sum().item())


class LatentUsage(Metric):
    """Logs `kl_full`, `mi` and `active_units` (for a deterministic encoder only `active_units`: KL and the
    mutual information of a point-mass posterior are infinite)."""

    name = "latent_usage"

    def __init__(self, threshold: float = 0.01, block_size: int = 1000, **kwargs) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold
        self.block_size = block_size

    def evaluate(self, evaluation: Evaluation) -> dict[str, float]:
        enc = evaluation.encoding
        values: dict[str, float] = {"active_units": active_units(enc.mean, self.threshold)}
        if enc.std is not None:
            values["kl_full"] = average_kl(enc.mean, enc.std)
            values["mi"] = mutual_information(enc.mean, enc.std, enc.z, self.block_size, evaluation.shards)
        return values
