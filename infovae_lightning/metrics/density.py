"""The density of a 2-D point cloud on a grid, and the contour levels that enclose given shares of its mass.

The q(z) picture draws the aggregate posterior as contours that hold the same shares of mass as the prior's
1, 2, 3σ circles (39%, 86%, 99% for N(0, I) in 2-D): where q(z) = p(z) the contours lie on the circles, and a
hole in q(z) (the paper's Figure 3) shows as a contour that leaves a region of the circles out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


def gaussian_mass_within(radius: float) -> float:
    """P(‖z‖ ≤ radius) for z ~ N(0, I) in 2-D: 1 − exp(−r²/2) (‖z‖² is χ² with 2 degrees of freedom)."""
    return 1.0 - math.exp(-radius * radius / 2)


def kernel_density(points: np.ndarray, limit: float, size: int = 80) -> tuple[np.ndarray, np.ndarray] | None:
    """A Gaussian kernel density estimate of `points` [n, 2] at the size × size grid over [−limit, limit]²,
    with Scott's bandwidth n^(−1/6)·std per axis: (grid axis [size], density [size, size], rows along z2).
    None when the points cannot make one (fewer than 10, or no spread along an axis: a collapsed q(z))."""
    z = torch.as_tensor(points, dtype=torch.float32)
    if z.shape[0] < 10:
        return None
    bandwidth = z.std(0) * z.shape[0] ** (-1 / 6)
    if not bool(torch.isfinite(bandwidth).all()) or bool((bandwidth <= 0).any()):
        return None
    axis = torch.linspace(-limit, limit, size)
    z1, z2 = torch.meshgrid(axis, axis, indexing="xy")  # [size, size]: rows along z2, as contour() expects
    grid = torch.stack([z1.flatten(), z2.flatten()], dim=1)
    distance = torch.cdist(grid / bandwidth, z / bandwidth)  # [size², n] in bandwidths
    kernel_sum = torch.exp(-0.5 * distance.pow(2)).sum(dim=1)
    density = kernel_sum / (z.shape[0] * 2 * math.pi * bandwidth.prod())
    return axis.numpy(), density.reshape(size, size).numpy()


def mass_levels(density: np.ndarray, masses: Sequence[float]) -> list[float]:
    """Density thresholds, increasing, whose superlevel sets {density ≥ t} hold `masses` of the grid's mass
    (the highest-density regions); fewer when two masses fall on one level."""
    values = np.sort(density.ravel())[::-1]
    cumulative = np.cumsum(values) / values.sum()
    levels = {float(values[min(np.searchsorted(cumulative, m), values.size - 1)]) for m in masses}
    return sorted(level for level in levels if level > 0)
