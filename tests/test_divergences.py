"""Numerical tests of the KL, MMD and Stein divergences against independent NumPy/SciPy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist, pdist, squareform

from infovae_lightning.divergences import (
    ESTIMATORS,
    KERNELS,
    MMD,
    SteinDivergence,
    gaussian_kl_to_standard_normal,
    kernelized_stein_discrepancy,
    median_heuristic_bandwidth,
    squared_distances,
    svgd_direction,
)

RBF_H = 1.3
KERNEL_BANDWIDTH = {"gaussian": None, "rbf": RBF_H, "imq": None}
DISTANCE_MODES = ("matmul", "cdist")


# ----------------------------------------------------------------------------- NumPy references


def np_kernel(x: np.ndarray, y: np.ndarray, kernel: str) -> np.ndarray:
    d = x.shape[1]
    if kernel == "gaussian":
        # Literal transcription of the InfoVAE authors' TF compute_kernel:
        # exp(-reduce_mean(square(tiled_x - tiled_y), axis=2) / dim)
        diff = x[:, None, :] - y[None, :, :]
        return np.exp(-np.mean(diff**2, axis=2) / d)
    d2 = cdist(x, y, "sqeuclidean")
    if kernel == "rbf":
        return np.exp(-d2 / (2 * RBF_H**2))
    if kernel == "imq":
        return sum(2 * d * s / (2 * d * s + d2) for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0))
    raise AssertionError(kernel)


def np_mmd(x: np.ndarray, y: np.ndarray, kernel: str, estimator: str) -> float:
    kxx, kyy, kxy = np_kernel(x, x, kernel), np_kernel(y, y, kernel), np_kernel(x, y, kernel)
    if estimator == "biased":
        return kxx.mean() + kyy.mean() - 2 * kxy.mean()
    off_x = ~np.eye(len(x), dtype=bool)
    off_y = ~np.eye(len(y), dtype=bool)
    return kxx[off_x].mean() + kyy[off_y].mean() - 2 * kxy.mean()


def np_rbf(a: np.ndarray, b: np.ndarray, h: float) -> float:
    return math.exp(-np.sum((a - b) ** 2) / h)


def np_grad_a(f, a: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Central finite-difference gradient of scalar f at a (independent of any hand derivation)."""
    g = np.zeros_like(a)
    for k in range(a.size):
        e = np.zeros_like(a)
        e[k] = eps
        g[k] = (f(a + e) - f(a - e)) / (2 * eps)
    return g


def np_svgd(z: np.ndarray, h: float) -> np.ndarray:
    """φ*(z_i) = 1/n Σ_j [k(z_j, z_i) ∇log p(z_j) + ∇_{z_j} k(z_j, z_i)], double loop, FD gradients."""
    n = len(z)
    phi = np.zeros_like(z)
    for i in range(n):
        for j in range(n):
            score_j = -z[j]  # ∇ log N(z; 0, I)
            grad_k = np_grad_a(lambda a, i=i: np_rbf(a, z[i], h), z[j].copy())
            phi[i] += np_rbf(z[j], z[i], h) * score_j + grad_k
    return phi / n


def np_stein_kernel(x: np.ndarray, y: np.ndarray, h: float, eps: float = 1e-4) -> float:
    """u_p(x, y) = s(x)ᵀs(y)k + s(x)ᵀ∇_y k + s(y)ᵀ∇_x k + tr ∇_x∇_y k, derivatives by finite differences."""
    d = len(x)
    k = np_rbf(x, y, h)
    gx = np_grad_a(lambda a: np_rbf(a, y, h), x.copy())
    gy = np_grad_a(lambda b: np_rbf(x, b, h), y.copy())
    trace = 0.0
    for m in range(d):
        e = np.zeros(d)
        e[m] = eps
        # ∂²k/∂x_m∂y_m by the four-point central difference.
        pp, pm = np_rbf(x + e, y + e, h), np_rbf(x + e, y - e, h)
        mp, mm = np_rbf(x - e, y + e, h), np_rbf(x - e, y - e, h)
        trace += (pp - pm - mp + mm) / (4 * eps**2)
    sx, sy = -x, -y
    return sx @ sy * k + sx @ gy + sy @ gx + trace


def np_ksd(z: np.ndarray, h: float, unbiased: bool) -> float:
    n = len(z)
    total, count = 0.0, 0
    for i in range(n):
        for j in range(n):
            if unbiased and i == j:
                continue
            total += np_stein_kernel(z[i], z[j], h)
            count += 1
    return total / count


def np_median_bandwidth(z: np.ndarray) -> float:
    # Liu & Wang's SVGD reference code: median of squareform(pdist)**2, divided by log(n + 1).
    return float(np.median(squareform(pdist(z)) ** 2) / np.log(len(z) + 1))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# ----------------------------------------------------------------------------- KL


def test_kl_matches_torch_distributions() -> None:
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(64, 8, generator=g, dtype=torch.float64) * 2
    std = torch.rand(64, 8, generator=g, dtype=torch.float64) * 3 + 1e-3
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mean, std), torch.distributions.Normal(0.0, 1.0)
    ).sum(-1)
    out = gaussian_kl_to_standard_normal(mean, std)
    assert out.shape == (64,)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    zero = gaussian_kl_to_standard_normal(torch.zeros(3, 5), torch.ones(3, 5))
    torch.testing.assert_close(zero, torch.zeros(3))


def test_kl_is_finite_for_tiny_std_in_float32() -> None:
    # std² underflows to 0 in float32 here; log(std) taken directly stays exact.
    std = torch.full((2, 4), 1e-25)
    mean = torch.zeros(2, 4)
    out = gaussian_kl_to_standard_normal(mean, std)
    expected = 4 * (-0.5 - math.log(1e-25))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.full((2,), expected))


# ----------------------------------------------------------------------------- MMD


def test_gaussian_kernel_is_authors_kernel_by_hand() -> None:
    # x = 0, y = (1, 1): authors' mean((x-y)^2)/dim = 1/2, i.e. ‖x−y‖²/d² = 2/4.
    d2 = torch.tensor([[2.0]])
    torch.testing.assert_close(KERNELS["gaussian"](d2, 2, None), torch.tensor([[math.exp(-0.5)]]))


@pytest.mark.parametrize("distance", DISTANCE_MODES)
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_mmd_matches_numpy_reference(kernel: str, estimator: str, distance: str, rng) -> None:
    x = rng.normal(size=(17, 5)) * 1.5 + 0.3
    y = rng.normal(size=(23, 5))
    mmd = MMD(kernel, estimator, KERNEL_BANDWIDTH[kernel], distance)
    expected = np_mmd(x, y, kernel, estimator)
    out = mmd(torch.from_numpy(x), torch.from_numpy(y))
    assert out.dtype == torch.float64 and out.ndim == 0
    assert abs(out.item() - expected) < 1e-10
    # float32 sanity: same number up to single-precision rounding.
    out32 = mmd(torch.from_numpy(x).float(), torch.from_numpy(y).float())
    assert out32.dtype == torch.float32
    assert abs(out32.item() - expected) < 1e-5


@pytest.mark.parametrize("distance", DISTANCE_MODES)
def test_squared_distances_match_scipy(distance: str, rng) -> None:
    x, y = rng.normal(size=(9, 4)), rng.normal(size=(7, 4))
    out = squared_distances(torch.from_numpy(x), torch.from_numpy(y), distance)
    np.testing.assert_allclose(out.numpy(), cdist(x, y, "sqeuclidean"), rtol=1e-10, atol=1e-12)
    self_d2 = squared_distances(torch.from_numpy(x), distance=distance)
    np.testing.assert_allclose(self_d2.numpy(), squareform(pdist(x, "sqeuclidean")), rtol=1e-10, atol=1e-12)
    assert (self_d2.diagonal() == 0).all()


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_mmd_near_zero_for_same_distribution(kernel: str) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 4, generator=g, dtype=torch.float64)
    y = torch.randn(2000, 4, generator=g, dtype=torch.float64)
    bw = KERNEL_BANDWIDTH[kernel]
    unbiased = MMD(kernel, "unbiased", bw)(x, y).item()
    biased = MMD(kernel, "biased", bw)(x, y).item()
    shifted = MMD(kernel, "unbiased", bw)(x + 1.0, y).item()
    assert abs(unbiased) < 2e-3
    assert 0 < biased < 5e-3
    assert abs(unbiased) < 0.02 * shifted


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_mmd_grows_with_mean_shift(kernel: str, estimator: str) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(500, 4, generator=g, dtype=torch.float64)
    y = torch.randn(500, 4, generator=g, dtype=torch.float64)
    mmd = MMD(kernel, estimator, KERNEL_BANDWIDTH[kernel])
    direction = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    values = [mmd(x + s * direction, y).item() for s in (0.0, 0.5, 1.0, 2.0)]
    assert values[1] > 0
    assert values[0] < values[1] < values[2] < values[3]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_mmd_gradients_finite_with_duplicates(kernel: str, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(2)
    base = torch.randn(6, 3, generator=g, dtype=dtype)
    # Duplicated rows inside z, and prior samples coinciding with some z: zero distances off the diagonal.
    z_data = torch.cat([base, base[:3], base[:1]])
    prior = torch.cat([torch.randn(5, 3, generator=g, dtype=dtype), base[:2]])
    grads = {}
    for distance in DISTANCE_MODES:
        for estimator in ESTIMATORS:
            z = z_data.clone().requires_grad_(True)
            p = prior.clone().requires_grad_(True)
            MMD(kernel, estimator, KERNEL_BANDWIDTH[kernel], distance)(z, p).backward()
            assert torch.isfinite(z.grad).all() and torch.isfinite(p.grad).all(), (distance, estimator)
            grads[distance, estimator] = z.grad
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    for estimator in ESTIMATORS:
        torch.testing.assert_close(grads["cdist", estimator], grads["matmul", estimator], rtol=tol, atol=tol)


@pytest.mark.parametrize("distance", DISTANCE_MODES)
def test_kernel_diagonal_gradient_finite_without_self_shortcut(distance: str) -> None:
    # k(x, x) through the two-argument path, so the zero diagonal goes through cdist/matmul itself.
    g = torch.Generator().manual_seed(3)
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(5, 4, generator=g, dtype=dtype)
        # Dyadic coordinates make ‖x‖² + ‖y‖² − 2x·y exactly 0 for the duplicates, not just ~1e-16.
        exact = torch.tensor([[0.0, 1.0, -2.0, 0.5], [1.5, 0.0, 1.0, -1.0]], dtype=dtype)
        x = torch.cat([x, x[:2], exact, exact]).requires_grad_(True)
        d2 = squared_distances(x, x.clone(), distance)
        assert d2.diagonal().abs().max() < 1e-5
        assert d2[7, 9] == 0 and d2[8, 10] == 0
        for name in sorted(KERNELS):
            (grad,) = torch.autograd.grad(KERNELS[name](d2, 4, 1.0).sum(), x, retain_graph=True)
            assert torch.isfinite(grad).all(), (distance, dtype, name)
            # Σ_ij k(x_i, x_j) is invariant to translating all points together: gradients sum to ~0.
            assert grad.sum(0).abs().max() < 1e-4


def test_mmd_validation() -> None:
    with pytest.raises(ValueError, match="valid choices"):
        MMD(kernel="laplace")
    with pytest.raises(ValueError, match="valid choices"):
        MMD(estimator="linear")
    with pytest.raises(ValueError, match="valid choices"):
        MMD(distance="l1")
    with pytest.raises(ValueError, match="bandwidth"):
        MMD(kernel="rbf")
    with pytest.raises(ValueError, match="bandwidth"):
        MMD(kernel="gaussian", bandwidth=1.0)
    with pytest.raises(ValueError, match="at least 2"):
        MMD(estimator="unbiased")(torch.randn(1, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"\[n, d\]"):
        MMD()(torch.randn(4, 3), torch.randn(4, 2))


# ----------------------------------------------------------------------------- Stein


def test_median_heuristic_matches_numpy(rng) -> None:
    for n in (10, 11):  # n² even and odd: np.median averages the two middle values when even
        z = rng.normal(size=(n, 3))
        h = median_heuristic_bandwidth(torch.from_numpy(z)).item()
        assert abs(h - np_median_bandwidth(z)) < 1e-12


@pytest.mark.parametrize("bandwidth", [None, 0.7])
def test_svgd_direction_matches_numpy_double_loop(bandwidth: float | None, rng) -> None:
    z = rng.normal(size=(12, 3)) * 1.3 + 0.4
    h = np_median_bandwidth(z) if bandwidth is None else bandwidth
    phi = svgd_direction(torch.from_numpy(z), bandwidth)
    assert phi.shape == (12, 3) and not phi.requires_grad
    np.testing.assert_allclose(phi.numpy(), np_svgd(z, h), rtol=1e-7, atol=1e-8)


def test_stein_surrogate_gradient_is_minus_phi_over_n(rng) -> None:
    z0 = torch.from_numpy(rng.normal(size=(16, 4)) + 1.0)
    z = z0.clone().requires_grad_(True)
    surrogate, ksd = SteinDivergence()(z)
    assert surrogate.ndim == 0 and ksd.ndim == 0 and not ksd.requires_grad
    surrogate.backward()
    phi = svgd_direction(z0)
    torch.testing.assert_close(z.grad, -phi / 16, rtol=1e-12, atol=1e-12)
    # An optimizer step descending the surrogate moves the particles along +φ*.
    lr = 0.5
    torch.optim.SGD([z], lr=lr).step()
    torch.testing.assert_close(z.detach() - z0, lr * phi / 16, rtol=1e-12, atol=1e-12)


def test_svgd_descent_moves_particles_to_standard_normal() -> None:
    g = torch.Generator().manual_seed(4)
    z = (torch.randn(100, 2, generator=g, dtype=torch.float64) * 0.5 + 3.0).requires_grad_(True)
    stein = SteinDivergence()
    opt = torch.optim.SGD([z], lr=0.3 * 100)  # lr·n undoes the surrogate's 1/n: step 0.3·φ*
    # V-statistic here: SVGD particles end up more evenly spread than i.i.d. draws, which can push the
    # U-statistic below 0, whereas the V-statistic stays >= 0 and shrinks.
    ksd_start = kernelized_stein_discrepancy(z, estimator="biased").item()
    for _ in range(300):
        opt.zero_grad()
        stein(z)[0].backward()
        opt.step()
    ksd_end = kernelized_stein_discrepancy(z, estimator="biased").item()
    assert z.mean(0).abs().max() < 0.15
    assert (z.std(0) - 1).abs().max() < 0.2
    assert 0 <= ksd_end < 0.01 * ksd_start


@pytest.mark.parametrize("bandwidth", [None, 1.7])
def test_ksd_matches_numpy_double_loop(bandwidth: float | None, rng) -> None:
    z = rng.normal(size=(10, 3)) * 0.8 + 0.5
    h = np_median_bandwidth(z) if bandwidth is None else bandwidth
    zt = torch.from_numpy(z)
    for estimator, unbiased in (("unbiased", True), ("biased", False)):
        out = kernelized_stein_discrepancy(zt, bandwidth, estimator).item()
        assert abs(out - np_ksd(z, h, unbiased)) < 1e-6
    # SteinDivergence logs the U-statistic with the same bandwidth.
    assert abs(SteinDivergence(bandwidth)(zt)[1].item() - np_ksd(z, h, True)) < 1e-6


def test_ksd_small_for_standard_normal_larger_for_shifted_or_scaled() -> None:
    g = torch.Generator().manual_seed(5)
    z = torch.randn(400, 3, generator=g, dtype=torch.float64)
    null = kernelized_stein_discrepancy(z).item()
    shifted = kernelized_stein_discrepancy(z + 1.0).item()
    wide = kernelized_stein_discrepancy(z * 2.0).item()
    narrow = kernelized_stein_discrepancy(z * 0.5).item()
    assert abs(null) < 0.01
    for other in (shifted, wide, narrow):
        assert other > 10 * abs(null) and other > 0.05
    assert kernelized_stein_discrepancy(z, estimator="biased").item() > 0


def test_stein_validation() -> None:
    with pytest.raises(ValueError, match="> 0"):
        SteinDivergence(bandwidth=0.0)
    with pytest.raises(ValueError, match="valid choices"):
        kernelized_stein_discrepancy(torch.randn(4, 2), estimator="v")
    with pytest.raises(ValueError, match=r"\[n, d\]"):
        svgd_direction(torch.randn(4))
