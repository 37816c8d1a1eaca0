"""Divergences between the aggregate posterior q(z) and the prior p(z) = N(0, I) used by InfoVAE."""

from infovae_lightning.divergences.adversarial import LatentDiscriminator
from infovae_lightning.divergences.kl import gaussian_kl_to_standard_normal
from infovae_lightning.divergences.mmd import (
    DISTANCES,
    ESTIMATORS,
    KERNELS,
    MMD,
    mmd_from_kernels,
    squared_distances,
)
from infovae_lightning.divergences.stein import (
    KSD_ESTIMATORS,
    SteinDivergence,
    kernelized_stein_discrepancy,
    median_heuristic_bandwidth,
    svgd_direction,
)

__all__ = [
    "DISTANCES",
    "ESTIMATORS",
    "KERNELS",
    "KSD_ESTIMATORS",
    "LatentDiscriminator",
    "MMD",
    "SteinDivergence",
    "gaussian_kl_to_standard_normal",
    "kernelized_stein_discrepancy",
    "median_heuristic_bandwidth",
    "mmd_from_kernels",
    "squared_distances",
    "svgd_direction",
]
