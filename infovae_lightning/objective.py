"""The InfoVAE objective, in one place.

Zhao, Song & Ermon, "InfoVAE: Information Maximizing Variational Autoencoders", rewrite their
objective into a tractable form (the equation following the definition of L_InfoVAE):

    L = E_pD E_q(z|x)[log p(x|z)] − (1 − α)·E_pD KL(q(z|x) ‖ p(z)) − (α + λ − 1)·D(q(z) ‖ p(z))

α weights the mutual information I_q(x; z) kept in the code and λ the match between the aggregate
posterior q(z) = E_pD q(z|x) and the prior. Special cases: α=0, λ=1 is the ELBO; α=1−β, λ=β with D
dropped is β-VAE; D ∈ {MMD, Stein, adversarial} gives MMD-VAE, Stein-VAE and AAE.

Conventions (kept everywhere in the library): log p(x|z) is summed over pixels, KL over latent
dimensions, both averaged over the batch; D is one estimate per batch. The loss is −L.

An optimisation aid, off by default: `lam_warmup_steps = N` warms λ up linearly from 1 to its value over the
first N optimizer steps, so the D weight α + λ − 1 grows from α (0 for α = 0: the run starts as an ELBO) to
its full value. The schedule depends on the step alone, so a resumed run follows it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class InfoVAEObjective:
    alpha: float
    lam: float
    lam_warmup_steps: int = 0

    def __post_init__(self) -> None:
        # The KL weight 1−α must be ≥ 0: a negative weight rewards posteriors far from the prior and the
        # objective is unbounded. λ ≥ 0 as it weights a divergence. α+λ−1 < 0 is allowed by the algebra
        # but then D is *maximised*; we refuse it too, as the paper only studies α+λ−1 ≥ 0.
        if self.alpha > 1:
            raise ValueError(
                f"alpha must be <= 1 (the KL(q(z|x)||p(z)) weight 1-alpha is negative), got {self.alpha}"
            )
        if self.lam < 0:
            raise ValueError(f"lam (λ) must be >= 0, got {self.lam}")
        if self.div_weight < 0:
            raise ValueError(
                "alpha + lam - 1 must be >= 0 (the D(q(z)||p(z)) weight), "
                f"got alpha={self.alpha}, lam={self.lam}"
            )
        if self.lam_warmup_steps < 0:
            raise ValueError(f"lam_warmup_steps must be >= 0 (0: no warm-up), got {self.lam_warmup_steps}")

    @property
    def kl_weight(self) -> float:
        """1 − α, the weight of E KL(q(z|x) ‖ p(z))."""
        return 1.0 - self.alpha

    @property
    def div_weight(self) -> float:
        """α + λ − 1, the weight of D(q(z) ‖ p(z))."""
        return self.alpha + self.lam - 1.0

    def div_weight_at(self, step: int) -> float:
        """The D weight of optimizer step `step` (0-based) under the λ warm-up: α + λ_t − 1 with λ_t going
        linearly from min(λ, 1) at step 0 to λ at step `lam_warmup_steps`; `div_weight` without warm-up."""
        if self.lam_warmup_steps == 0 or step >= self.lam_warmup_steps:
            return self.div_weight
        start = min(self.lam, 1.0)
        lam = start + (self.lam - start) * step / self.lam_warmup_steps
        return self.alpha + lam - 1.0

    def loss(
        self, recon: Tensor, kl: Tensor | float, div: Tensor | float, div_weight: Tensor | float | None = None
    ) -> Tensor:
        """−L from the batch means of log p(x|z) and KL(q(z|x)‖p(z)) and a batch estimate of D; `div_weight`
        replaces α + λ − 1 during the warm-up (`div_weight_at`)."""
        weight = self.div_weight if div_weight is None else div_weight
        return -(recon - self.kl_weight * kl - weight * div)
