"""The adversarial estimate of D(q(z)‖p(z)): a discriminator on z, usable by any model (the AAE's).

The discriminator learns to tell prior samples (label 1) from posterior samples (label 0); the encoder is
trained with the non-saturating loss −E_q log σ(d(z)) (Goodfellow et al.); with the optimal discriminator
log 2 + ½E_p log σ(d) + ½E_q log(1 − σ(d)) is the Jensen-Shannon divergence JS(p‖q), the logged monitor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from infovae_lightning.nets.mlp import MLP


class LatentDiscriminator(MLP):
    """An MLP from z [B, d] to one logit per example, with the three quantities adversarial matching needs.

    A subclass of `MLP` (not a wrapper), so its parameters keep the names the AAE's checkpoints hold.
    """

    def __init__(self, latent_dim: int, hidden: Sequence[int] = (256, 256)) -> None:
        super().__init__((latent_dim,), (1,), hidden=list(hidden))

    def logits(self, z: Tensor) -> Tensor:
        return self(z).squeeze(-1)

    def loss(self, z_post: Tensor, z_prior: Tensor) -> Tensor:
        """The discriminator's own loss: binary cross-entropy, prior samples real, posterior samples fake."""
        real, fake = self.logits(z_prior), self.logits(z_post)
        return F.binary_cross_entropy_with_logits(
            real, torch.ones_like(real)
        ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))

    def encoder_loss(self, z_post: Tensor) -> Tensor:
        """The encoder's non-saturating loss −E_q log σ(d(z)): the D term of the objective."""
        fake = self.logits(z_post)
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))

    @torch.no_grad()
    def js_estimate(self, z_post: Tensor, z_prior: Tensor) -> Tensor:
        """JS(p‖q) as the current discriminator sees it (exact for the optimal one)."""
        real, fake = self.logits(z_prior), self.logits(z_post)
        return math.log(2) + 0.5 * (F.logsigmoid(real).mean() + F.logsigmoid(-fake).mean())
