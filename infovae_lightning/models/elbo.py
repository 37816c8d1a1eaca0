"""ELBO and β-VAE: the InfoVAE objective with no D(q(z)‖p(z)) term.

Kingma & Welling's ELBO is α=0, λ=1. β-VAE (Higgins et al.) weights KL(q(z|x)‖p(z)) by β, which in
InfoVAE's terms is α = 1−β, λ = β: the D weight α+λ−1 vanishes, so no divergence is needed.
"""

from __future__ import annotations

from typing import Any

from infovae_lightning.models.base import InfoVAE
from infovae_lightning.models.registry import ModelSpec, register_model


class ELBOVAE(InfoVAE):
    def __init__(self, alpha: float = 0.0, lam: float = 1.0, **kwargs: Any) -> None:
        if abs(alpha + lam - 1.0) > 1e-9:
            raise ValueError(
                "the ELBO/beta-VAE model has no D(q(z)||p(z)) estimator, so it needs alpha + lam = 1 "
                f"(got alpha={alpha}, lam={lam}); use model=mmd, stein or aae for other values"
            )
        super().__init__(alpha=alpha, lam=lam, **kwargs)


register_model(ModelSpec("elbo", ELBOVAE, "ELBOConf"))
