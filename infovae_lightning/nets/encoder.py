"""The encoder q(z|x): a diagonal Gaussian (with a floor on its standard deviation) or a point mass."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infovae_lightning.divergences.kl import gaussian_kl_to_standard_normal


@dataclass
class Posterior:
    """q(z|x) for a batch: N(mean, diag std²), or the point mass at `mean` when `std` is None."""

    mean: Tensor
    std: Tensor | None

    @property
    def deterministic(self) -> bool:
        return self.std is None

    def rsample(self) -> Tensor:
        """Reparameterised sample z = mean + std·ε, so gradients flow into the encoder."""
        if self.std is None:
            return self.mean
        return self.mean + self.std * torch.randn_like(self.mean)

    def log_prob(self, z: Tensor) -> Tensor:
        """log q(z|x) summed over latent dimensions; `z` may carry extra leading sample dimensions."""
        if self.std is None:
            raise ValueError("log q(z|x) is undefined for a deterministic encoder")
        return (-0.5 * ((z - self.mean) / self.std) ** 2 - self.std.log() - 0.5 * math.log(2 * math.pi)).sum(
            -1
        )

    def kl_to_prior(self) -> Tensor:
        """KL(q(z|x) ‖ N(0, I)) per example, analytically."""
        if self.std is None:
            raise ValueError("KL(q(z|x)‖p(z)) is infinite for a deterministic encoder: use alpha=1")
        return gaussian_kl_to_standard_normal(self.mean, self.std)


class GaussianEncoder(nn.Module):
    """Wraps a network that outputs 2·latent_dim numbers (mean, pre-softplus std) per example.

    std = std_floor + softplus(raw + shift): the floor keeps q(z|x) from collapsing to a point mass, which
    the paper notes makes log q(z|x) (and thus KL and likelihood estimates) blow up. The constant shift puts
    an untrained network's σ (raw ≈ 0) at `std_init`; without it σ starts at softplus(0) ≈ 0.69, near the
    prior's, which with α = 1 and a decoder that can ignore z is where such a model can stay (docs/results.md,
    information preference).
    With `deterministic=True` the network outputs latent_dim numbers and q(z|x) is a point mass
    (an AAE-style encoder; only valid when the KL(q(z|x)‖p(z)) term has weight 0, i.e. alpha = 1).
    """

    def __init__(
        self,
        net: nn.Module,
        latent_dim: int,
        std_floor: float = 1e-3,
        deterministic: bool = False,
        std_init: float | None = None,
    ):
        super().__init__()
        self.net = net
        self.latent_dim = latent_dim
        if not std_floor >= 0:  # also refuses NaN
            raise ValueError(f"std_floor must be >= 0 (a floor on a standard deviation), got {std_floor}")
        if std_init is not None and deterministic:
            raise ValueError("std_init is the σ of a Gaussian q(z|x): a deterministic encoder has none")
        if std_init is not None and not std_init > std_floor:
            raise ValueError(f"std_init must be > std_floor ({std_floor}), got {std_init}")
        self.std_floor = std_floor
        self.deterministic = deterministic
        # softplus⁻¹(y) = log(eʸ − 1) = y + log(1 − e⁻ʸ) for y = std_init − std_floor (the second form does
        # not overflow); 0 keeps the plain softplus of earlier versions.
        y = None if std_init is None else std_init - std_floor
        self.std_shift = 0.0 if y is None else y + math.log(-math.expm1(-y))

    @staticmethod
    def out_features(latent_dim: int, deterministic: bool) -> int:
        return latent_dim if deterministic else 2 * latent_dim

    def forward(self, x: Tensor) -> Posterior:
        # float32 under bf16 autocast (a no-op otherwise): the network runs in bf16, but q(z|x), its samples
        # and the KL and divergence terms built from them keep float32's precision.
        h = self.net(x).float()
        if self.deterministic:
            return Posterior(h, None)
        mean, raw_std = h.chunk(2, dim=-1)
        if self.std_shift:
            raw_std = raw_std + self.std_shift
        return Posterior(mean, self.std_floor + F.softplus(raw_std))
