"""Each evaluation estimator against ground truth: closed forms, direct NumPy computations, hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor

from infovae_lightning.divergences.mmd import ESTIMATORS, KERNELS
from infovae_lightning.metrics.class_dist import class_distribution_ce, class_frequencies
from infovae_lightning.metrics.evaluation import EvaluationError
from infovae_lightning.metrics.latent_usage import active_units, average_kl, mutual_information
from infovae_lightning.metrics.logdet import logdet_cov_per_dim
from infovae_lightning.metrics.mmd_full import full_mmd, kernel_sum
from infovae_lightning.metrics.nll import importance_sampled_log_likelihood
from infovae_lightning.metrics.semisup import linear_probe_accuracy
from infovae_lightning.metrics.sharding import Shards, map_chunks
from infovae_lightning.nets.encoder import Posterior

# --- importance-sampled log-likelihood: a linear-Gaussian model, whose p(x) is known exactly ------


class LinearGaussian:
    """p(z) = N(0, I), p(x|z) = N(Wz + b, σ²I)  ⇒  p(x) = N(b, WWᵀ + σ²I); exact posterior in closed form."""

    def __init__(self, x_dim: int = 6, z_dim: int = 3, sigma: float = 0.5, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.W = torch.randn(x_dim, z_dim, generator=g, dtype=torch.float64)
        self.b = torch.randn(x_dim, generator=g, dtype=torch.float64)
        self.sigma = sigma
        self.post_cov = torch.linalg.inv(torch.eye(z_dim, dtype=torch.float64) + self.W.T @ self.W / sigma**2)

    def sample_x(self, n: int, seed: int = 1) -> Tensor:
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.W.shape[1], generator=g, dtype=torch.float64)
        return (
            z @ self.W.T
            + self.b
            + self.sigma * torch.randn(n, self.W.shape[0], generator=g, dtype=torch.float64)
        )

    def log_px(self, x: Tensor) -> Tensor:
        cov = self.W @ self.W.T + self.sigma**2 * torch.eye(self.W.shape[0], dtype=torch.float64)
        return torch.distributions.MultivariateNormal(self.b, cov).log_prob(x)

    def log_px_given_z(self, x: Tensor, z: Tensor) -> Tensor:
        mean = z.double() @ self.W.T + self.b
        return torch.distributions.Normal(mean, self.sigma).log_prob(x.double()).sum(-1)

    def encoder(self, shift: float, widen: float):
        """An imperfect (diagonal, shifted, widened) proposal around the exact posterior."""

        def encode(x: Tensor) -> Posterior:
            mean = (x - self.b) @ self.W @ self.post_cov / self.sigma**2
            std = self.post_cov.diagonal().sqrt().expand_as(mean)
            return Posterior(mean + shift, std * widen)

        return encode


def test_importance_sampling_matches_closed_form_and_tightens_with_k() -> None:
    model = LinearGaussian()
    x = model.sample_x(200)
    truth = model.log_px(x)
    encoder = model.encoder(shift=0.3, widen=1.4)
    errors = {}
    for k in (1, 10, 100, 1000):
        estimate = importance_sampled_log_likelihood(
            encoder, model.log_px_given_z, x, k, max_pairs=20_000, generator=torch.Generator().manual_seed(k)
        )
        assert estimate.dtype == torch.float64 and estimate.shape == (200,)
        errors[k] = (truth - estimate).mean().item()  # ≥ 0 in expectation: a lower bound on log p(x)
    assert abs(errors[1000]) < 0.05, errors
    assert errors[1] > errors[10] > errors[100] > 0, errors
    assert errors[1] > 0.3, errors  # the proposal is poor enough for K to matter


def test_importance_sampling_is_exact_with_the_true_posterior_as_proposal() -> None:
    model = LinearGaussian(x_dim=4, z_dim=1)  # 1-D latent: the diagonal posterior is the exact posterior
    x = model.sample_x(50)
    for max_pairs in (10**6, 120):  # one decoder call, or several with a partial last one
        estimate = importance_sampled_log_likelihood(
            model.encoder(0.0, 1.0), model.log_px_given_z, x, 7, max_pairs=max_pairs
        )
        torch.testing.assert_close(estimate, model.log_px(x), rtol=0, atol=1e-9)


def test_importance_sampling_does_not_depend_on_how_the_pairs_are_chunked() -> None:
    # All K·B draws are taken first: one decoder call or many, on the same generator, the same estimate.
    model = LinearGaussian()
    x = model.sample_x(30)
    encoder = model.encoder(shift=0.3, widen=1.4)
    estimates = [
        importance_sampled_log_likelihood(
            encoder, model.log_px_given_z, x, 500, max_pairs=pairs, generator=torch.Generator().manual_seed(0)
        )
        for pairs in (10**6, 30 * 7, 1, None)  # one call; 7 samples a call, the last partial; 1; the default
    ]
    for estimate in estimates[1:]:
        torch.testing.assert_close(estimate, estimates[0], rtol=0, atol=1e-9)


def test_importance_sampling_refuses_a_deterministic_encoder() -> None:
    with pytest.raises(EvaluationError, match="deterministic"):
        importance_sampled_log_likelihood(
            lambda x: Posterior(x[:, :2], None), lambda x, z: z.sum(-1), torch.zeros(3, 4), 10
        )


# --- logdet of the covariance ---------------------------------------------------------------------


def test_logdet_cov_per_dim_of_known_covariances() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 3, generator=g, dtype=torch.float64)
    cov = a @ a.T + 0.5 * torch.eye(3, dtype=torch.float64)
    z = torch.distributions.MultivariateNormal(torch.zeros(3, dtype=torch.float64), cov).sample((200_000,))
    expected = torch.logdet(cov).item() / 3
    assert logdet_cov_per_dim(z) == pytest.approx(expected, abs=0.01)
    standard = torch.randn(200_000, 4, generator=g)
    assert logdet_cov_per_dim(standard) == pytest.approx(0.0, abs=0.01)  # q(z) = p(z)
    assert logdet_cov_per_dim(3.0 * standard) == pytest.approx(2 * math.log(3.0), abs=0.01)
    # Exact on a finite sample: equal to NumPy's sample covariance.
    small = z[:50]
    assert logdet_cov_per_dim(small) == pytest.approx(
        np.linalg.slogdet(np.cov(small.numpy().T))[1] / 3, abs=1e-10
    )


def test_logdet_cov_per_dim_is_minus_infinity_for_a_collapsed_dimension() -> None:
    z = torch.randn(100, 3)
    z[:, 1] = 0.0
    assert logdet_cov_per_dim(z) == -math.inf


# --- full-set MMD ---------------------------------------------------------------------------------


def numpy_mmd(x: np.ndarray, y: np.ndarray, kernel: str, estimator: str, bandwidth: float | None) -> float:
    """Direct definition: whole kernel matrices, elementwise kernels on explicit pairwise differences."""
    d = x.shape[1]

    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        if kernel == "gaussian":
            return np.exp(-d2 / d**2)
        if kernel == "rbf":
            return np.exp(-d2 / (2 * bandwidth**2))
        return sum(2 * d * s / (2 * d * s + d2) for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    if estimator == "biased":
        return kxx.mean() + kyy.mean() - 2 * kxy.mean()
    n, m = len(x), len(y)
    off = lambda kk, s: (kk.sum() - np.trace(kk)) / (s * (s - 1))  # noqa: E731
    return off(kxx, n) + off(kyy, m) - 2 * kxy.mean()


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("estimator", list(ESTIMATORS))
def test_full_mmd_equals_a_direct_numpy_computation(kernel: str, estimator: str) -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(103, 3, generator=g, dtype=torch.float64) * 1.3 + 0.4
    prior = torch.randn(89, 3, generator=g, dtype=torch.float64)
    bandwidth = 0.8 if kernel == "rbf" else None
    expected = numpy_mmd(z.numpy(), prior.numpy(), kernel, estimator, bandwidth)
    for block in (7, 50, 4096):  # blocks that do and do not divide the sizes, and one block
        value = full_mmd(z, prior, kernel, estimator, bandwidth, block_size=block)
        assert value == pytest.approx(expected, rel=1e-10, abs=1e-12), (block, value, expected)


def test_kernel_sum_shares_add_up_over_processes() -> None:
    z = torch.randn(60, 2, dtype=torch.float64)
    whole = kernel_sum(z, None, "gaussian", None, 8)
    shares = [kernel_sum(z, None, "gaussian", None, 8, Shards(rank, 3)) for rank in range(3)]
    assert all(s > 0 for s in shares)  # every process does part of the work
    assert sum(shares).item() == pytest.approx(whole.item(), rel=1e-12)


def test_map_chunks_result_does_not_depend_on_the_number_of_processes() -> None:
    def noisy(rows: slice, generator: torch.Generator) -> Tensor:
        return torch.arange(rows.start, rows.stop).double()[:, None] + torch.randn(
            rows.stop - rows.start, 2, generator=generator, dtype=torch.float64
        )

    kwargs = dict(chunk_size=7, seed=3, device=torch.device("cpu"), dtype=torch.float64)
    alone = map_chunks(noisy, 50, (2,), Shards(), **kwargs)
    # Two processes: each computes its chunks into zeros; the all-reduce is their sum.
    parts = [map_chunks(noisy, 50, (2,), Shards(rank, 2), **kwargs) for rank in range(2)]
    assert torch.equal(parts[0] + parts[1], alone)
    assert not torch.equal(parts[0], alone)


# --- class-distribution cross-entropy -------------------------------------------------------------


def test_class_dist_ce_is_zero_when_generated_classes_match_the_data() -> None:
    labels = torch.tensor([0, 0, 1, 2, 2, 2, 3, 3, 3, 3])
    real = class_frequencies(labels, 4)
    ce, empty = class_distribution_ce(real, labels[torch.randperm(10)], 4)
    assert ce == pytest.approx(0.0, abs=1e-15) and empty == 0


def test_class_dist_ce_matches_a_hand_computation() -> None:
    real = torch.tensor([0.5, 0.25, 0.25])
    predicted = torch.tensor([0, 1, 1, 1, 2, 2, 2, 2])  # ĉ = (1/8, 3/8, 4/8)
    expected = -(
        0.5 * math.log((1 / 8) / 0.5) + 0.25 * math.log((3 / 8) / 0.25) + 0.25 * math.log((4 / 8) / 0.25)
    )
    ce, empty = class_distribution_ce(real, predicted, 3)
    assert ce == pytest.approx(expected, rel=1e-12) and empty == 0


def test_class_dist_ce_gives_empty_classes_half_a_count() -> None:
    real = torch.tensor([0.5, 0.5, 0.0])
    predicted = torch.tensor([0, 0, 0, 0])  # class 1 never generated; class 2 absent from the data too
    ce, empty = class_distribution_ce(real, predicted, 3)
    # counts (4, ½, ½) → ĉ = (4/5, 1/10, 1/10); class 2 has c = 0 and contributes nothing.
    expected = -(0.5 * math.log(0.8 / 0.5) + 0.5 * math.log(0.1 / 0.5))
    assert ce == pytest.approx(expected, rel=1e-12)
    assert empty == 1  # only classes present in the data count as missing
    assert math.isfinite(ce)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: predictions on it, labels on the CPU")
def test_class_dist_ce_takes_predictions_from_the_gpu() -> None:
    real = torch.tensor([0.5, 0.25, 0.25])
    predicted = torch.tensor([0, 1, 1, 1, 2, 2, 2, 2])
    assert class_distribution_ce(real, predicted.cuda(), 3) == class_distribution_ce(real, predicted, 3)


def test_class_dist_ce_rejects_a_non_distribution() -> None:
    with pytest.raises(ValueError, match="probability vector"):
        class_distribution_ce(torch.tensor([0.5, 0.6]), torch.tensor([0, 1]), 2)


# --- linear probe ---------------------------------------------------------------------------------


def test_linear_probe_is_near_perfect_on_separable_latents_and_chance_on_noise() -> None:
    g = torch.Generator().manual_seed(0)
    centres = 6.0 * torch.randn(10, 5, generator=g)
    y_train, y_test = torch.randint(0, 10, (1000,), generator=g), torch.randint(0, 10, (2000,), generator=g)
    separable = lambda y: centres[y] + torch.randn(len(y), 5, generator=g)  # noqa: E731
    assert linear_probe_accuracy(separable(y_train), y_train, separable(y_test), y_test) > 0.97
    noise = lambda y: torch.randn(len(y), 5, generator=g)  # noqa: E731
    assert abs(linear_probe_accuracy(noise(y_train), y_train, noise(y_test), y_test) - 0.1) < 0.04


def test_linear_probe_needs_two_classes() -> None:
    with pytest.raises(EvaluationError, match="two classes"):
        linear_probe_accuracy(torch.randn(5, 2), torch.zeros(5), torch.randn(5, 2), torch.zeros(5))


# --- KL, mutual information, active units ---------------------------------------------------------


def test_mutual_information_of_a_linear_gaussian_encoder() -> None:
    # x ~ N(0, 1), q(z|x) = N(a·x, s²)  ⇒  q(z) = N(0, a² + s²),  I(x; z) = ½ log((a² + s²) / s²).
    g = torch.Generator().manual_seed(0)
    a, s, n = 2.0, 0.5, 4000
    x = torch.randn(n, 1, generator=g, dtype=torch.float64)
    mean, std = a * x, torch.full_like(x, s)
    z = mean + std * torch.randn(n, 1, generator=g, dtype=torch.float64)
    truth = 0.5 * math.log((a**2 + s**2) / s**2)
    assert mutual_information(mean, std, z, block_size=300) == pytest.approx(truth, abs=0.05)
    shares = [mutual_information(mean, std, z, 300, Shards(rank, 2)) for rank in range(2)]
    assert sum(shares) == pytest.approx(mutual_information(mean, std, z, 300), rel=1e-12)
    # A posterior that ignores x carries no information.
    flat = torch.zeros_like(x)
    assert mutual_information(flat, torch.ones_like(x), torch.randn(n, 1, generator=g)) == pytest.approx(
        0, abs=1e-12
    )


def test_average_kl_and_active_units() -> None:
    mean = torch.tensor([[0.0, 1.0, 0.3], [0.0, -1.0, 0.35], [0.0, 0.5, 0.3]])
    std = torch.tensor([[1.0, 0.5, 2.0]]).expand(3, 3)
    expected = (
        torch.distributions.kl_divergence(
            torch.distributions.Normal(mean, std), torch.distributions.Normal(0.0, 1.0)
        )
        .sum(-1)
        .mean()
    )
    assert average_kl(mean, std) == pytest.approx(expected.item(), rel=1e-6)
    # Var over x of the means: dim 0 → 0, dim 1 → 1.75/2·… ≫ 0.01, dim 2 → 0.00083 < 0.01.
    assert active_units(mean) == 1
    assert active_units(mean, threshold=1e-4) == 2
