"""The Gaussian likelihood on 8-bit images is a density of the (dequantized) data, with σ bounded below."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import compose_config

from infovae_lightning.models import ELBOVAE
from infovae_lightning.nets import GREY_SIGMA, BernoulliLikelihood, GaussianLikelihood, build_likelihood
from infovae_lightning.nets.logistic_mixture import DiscretizedLogisticMixture

LEVELS = 256
SIGMA_MIN = 0.01  # the default floor of a learned σ on 8-bit data
GRID = torch.arange(LEVELS, dtype=torch.float32) / (LEVELS - 1)


@pytest.mark.parametrize(("mean", "sigma"), [(0.3, 0.5), (0.0, 1e-3), (1.0, 1e-3), (0.5, 30.0), (-2.0, 0.1)])
def test_bin_masses_are_finite_and_at_most_one(mean: float, sigma: float) -> None:
    # Each of the 256 pixel values gets the Gaussian's mass over its bin: finite and summing to the mass
    # on [−½, 255½]/255, wherever the mean and however narrow σ.
    likelihood = GaussianLikelihood([1], sigma=sigma, levels=LEVELS).eval()
    log_p = likelihood.log_prob(GRID[:, None], torch.full((LEVELS, 1), mean))
    log_mass = log_p - math.log(LEVELS - 1)  # density on the [0, 1] scale → mass of the bin
    assert torch.isfinite(log_p).all()
    half = 0.5 / (LEVELS - 1)
    normal = torch.distributions.Normal(torch.tensor(mean, dtype=torch.float64), sigma)
    inside = float(normal.cdf(torch.tensor(1 + half, dtype=torch.float64)) - normal.cdf(torch.tensor(-half)))
    assert torch.logsumexp(log_mass.double(), 0).exp().item() == pytest.approx(inside, abs=1e-4)


def test_training_dequantizes_and_evaluation_integrates_the_bin() -> None:
    # At training, the density at x + u (u uniform in the bin) is random, and its mean is below the exact
    # log-mass of the bin that evaluation reports (Jensen), by little for σ of a few grey levels.
    torch.manual_seed(0)
    likelihood = GaussianLikelihood([4], sigma=0.02, levels=LEVELS)
    x = torch.tensor([[0.0, 10 / 255, 128 / 255, 1.0]]).expand(20_000, 4)
    mean = torch.tensor([[0.01, 0.05, 0.5, 0.97]]).expand(20_000, 4)
    draws = likelihood.train().log_prob(x, mean)
    exact = likelihood.eval().log_prob(x[:1], mean[:1])
    assert draws.std() > 0
    assert draws.mean().item() < exact.item() < draws.mean().item() + 0.05


def test_learned_sigma_has_a_floor_that_bounds_the_held_out_nll() -> None:
    # A learned σ never goes below sigma_min (0.01 by default on 8-bit data), however far its
    # parameter is pushed: a pixel predicted blank (μ = 0) but inked (x = 1) in a held-out image costs about
    # t²/2 + log(t·√(2π)) − log(255) nats, t ≈ 1/σ_min (Mills' ratio): finite, not +∞.
    likelihood = GaussianLikelihood([1, 2, 2], sigma=0.3, learn_sigma=True, levels=LEVELS)
    assert likelihood.sigma_min == pytest.approx(SIGMA_MIN)
    with torch.no_grad():
        likelihood.log_sigma.fill_(-200.0)  # exp(ℓ) underflows to 0: σ is the floor
    torch.testing.assert_close(likelihood.sigma, torch.full((1, 2, 2), SIGMA_MIN))
    held_out = torch.ones(1, 1, 2, 2)  # every pixel inked, predicted blank
    nll = -likelihood.eval().log_prob(held_out, torch.zeros(1, 1, 2, 2)).item()
    # The bin of x = 1 spans t ∈ [lo, hi] standard deviations: its mass is between φ(hi)·(hi − lo) and
    # φ(lo)/lo (the whole tail beyond lo), times 255 for the density.
    half = 0.5 / 255
    lo, hi = (1 - half) / SIGMA_MIN, (1 + half) / SIGMA_MIN
    lowest = 0.5 * lo**2 + math.log(math.sqrt(2 * math.pi) * lo) - math.log(255)
    highest = 0.5 * hi**2 + math.log(math.sqrt(2 * math.pi) / (hi - lo)) - math.log(255)
    assert 4 * lowest * (1 - 1e-6) < nll < 4 * highest  # 1e-6: float32 rounding
    # Continuous data (no levels): no floor unless asked for, the density as before.
    continuous = GaussianLikelihood([1], sigma=0.3, learn_sigma=True)
    assert continuous.sigma_min == 0.0 and continuous.discrete_log_offset is None
    x, mu = torch.tensor([[0.2]]), torch.tensor([[0.1]])
    expected = torch.distributions.Normal(0.1, 0.3).log_prob(torch.tensor(0.2))
    assert continuous.log_prob(x, mu).item() == pytest.approx(expected.item(), rel=1e-6)


def test_sigma_below_its_floor_is_refused() -> None:
    with pytest.raises(ValueError, match="above sigma_min"):
        GaussianLikelihood([1], sigma=0.001, learn_sigma=True, levels=LEVELS)
    with pytest.raises(ValueError, match="levels"):
        GaussianLikelihood([1], levels=1)


def test_held_out_nll_stays_finite_after_training_on_few_images() -> None:
    """The issue's failure in small: a learned σ trained on 8 grey images whose border pixels are blank;
    held-out images with ink there. With dequantization and the floor the held-out −log p(x|z) is finite and
    within the floor's bound, and −log P(x) of the discrete pixels is ≥ 0 (a probability)."""
    torch.manual_seed(0)
    shape = (1, 8, 8)
    model = ELBOVAE(
        latent_dim=2,
        input_shape=shape,
        net={"name": "mlp", "hidden": [32]},
        likelihood={"name": "gaussian", "sigma": GREY_SIGMA, "learn_sigma": True, "levels": LEVELS},
        lr=1e-2,
    )
    train = torch.zeros(8, *shape)
    train[:, :, 2:6, 2:6] = torch.randint(0, 256, (8, 1, 4, 4)) / 255
    held_out = torch.randint(0, 256, (8, *shape)) / 255  # ink everywhere, borders included
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(300):
        optimizer.zero_grad()
        model.terms(train).loss.backward()
        optimizer.step()
    sigma = model.decoder.likelihood.sigma.detach()
    assert sigma.min().item() >= SIGMA_MIN * (1 - 1e-6)
    assert sigma[:, 0, 0].item() < 0.05  # the blank border's σ went down towards its floor
    model.eval()
    with torch.no_grad():
        train_nll = -model.terms(train).log_px.item()
        nll = -model.terms(held_out).log_px.item()
        bits = model.bits_per_dim(torch.tensor(nll)).item()
    assert train_nll < 0  # better than the uniform density on the pixels it was trained on
    t = (1 + 0.5 / 255) / SIGMA_MIN  # the farthest a pixel's bin can be from its mean, in floors
    bound = math.prod(shape) * (0.5 * t**2 + math.log(math.sqrt(2 * math.pi) * 255 * t))
    assert math.isfinite(nll) and train_nll < nll < bound
    assert bits == pytest.approx((nll / 64 + math.log(255)) / math.log(2))
    assert bits >= 0


def test_bits_per_dim_of_each_likelihood() -> None:
    shape = (1, 28, 28)
    assert BernoulliLikelihood().discrete_log_offset == 0.0
    assert DiscretizedLogisticMixture(shape).discrete_log_offset == 0.0
    assert GaussianLikelihood(shape, levels=LEVELS).discrete_log_offset == pytest.approx(math.log(255))
    assert build_likelihood("gaussian", shape).discrete_log_offset is None
    model = ELBOVAE(latent_dim=2, input_shape=shape, net={"name": "mlp", "hidden": [8]})
    assert model.bits_per_dim(torch.tensor(784 * math.log(2))).item() == pytest.approx(1.0)
    mlp = {"name": "mlp", "hidden": [8]}
    toy = ELBOVAE(latent_dim=1, input_shape=[1], likelihood={"name": "gaussian"}, net=mlp)
    assert toy.bits_per_dim(torch.tensor(1.0)) is None


@pytest.mark.parametrize(("data", "sigma", "levels"), [("mnist", GREY_SIGMA, 256), ("toy", 1.0, None)])
def test_config_defaults_of_the_gaussian(data: str, sigma: float, levels: int | None) -> None:
    # The authors' σ² = ½ on images, whose 256 levels are dequantized; the toy data are continuous.
    cfg = compose_config([f"data={data}", "data.binarize=none"])
    likelihood = cfg.model.likelihood
    floor = 0.0 if levels is None else 0.01  # saved with the model: a later default cannot change it
    assert (likelihood.name, likelihood.sigma, likelihood.levels, likelihood.sigma_min) == (
        "gaussian",
        pytest.approx(sigma),
        levels,
        pytest.approx(floor),
    )
