"""Adversarial autoencoder: D(q(z)‖p(z)) is the Jensen-Shannon divergence, estimated by a discriminator.

A discriminator on z learns to tell prior samples (label 1) from posterior samples (label 0); the
encoder gets the non-saturating loss −log σ(d(z)) for its posterior samples (Goodfellow et al.).
With α=1, λ=1 (the preset) the objective is reconstruction + adversarial matching, as in Makhzani et al.
Two optimisers with their own learning rates, stepped by hand (Lightning manual optimisation). As
everywhere in Lightning, `trainer.global_step` (and so `trainer.max_steps`) counts optimizer steps: an
AAE batch makes `disc_steps + 1` of them. Limit AAE runs by epochs or batches to compare with other models.
Under DDP, each player's backward pass leaves the other's parameters without gradient, so the AAE needs
`strategy=ddp_find_unused_parameters_true`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from infovae_lightning.divergences.adversarial import LatentDiscriminator
from infovae_lightning.errors import NonFiniteLossError
from infovae_lightning.models.base import Divergence, InfoVAE, adam
from infovae_lightning.models.registry import ModelSpec, register_model


class AdversarialAE(InfoVAE):
    """Args beyond `InfoVAE`: discriminator hidden widths, its learning rate, and how many
    discriminator steps precede each encoder/decoder step."""

    def __init__(
        self,
        disc_hidden: Sequence[int] = (256, 256),
        disc_lr: float = 1e-4,
        disc_steps: int = 1,
        alpha: float = 1.0,
        lam: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(alpha=alpha, lam=lam, **kwargs)
        if disc_steps < 1:
            raise ValueError(f"disc_steps must be >= 1, got {disc_steps}")
        self.automatic_optimization = False
        self.discriminator = LatentDiscriminator(self.hparams.latent_dim, disc_hidden)

    def logits(self, z: Tensor) -> Tensor:
        return self.discriminator.logits(z)

    def discriminator_loss(self, z_post: Tensor, z_prior: Tensor) -> Tensor:
        return self.discriminator.loss(z_post, z_prior)

    def divergence(self, z: Tensor) -> Divergence:
        prior = self.sample_prior(z.shape[0])
        z = self.global_batch(z)  # the global batch under DDP
        value = self.discriminator.encoder_loss(z)
        return Divergence(value, self.discriminator.js_estimate(z, self.global_batch(prior)))

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, _ = batch
        opt_ae, opt_disc = self.optimizers()

        # 1. Discriminator steps on this batch's (fixed) posterior samples against fresh prior samples.
        with torch.no_grad():
            z_post = self.encoder(x).rsample()
        self.toggle_optimizer(opt_disc)
        for _ in range(self.hparams.disc_steps):
            disc_loss = self.discriminator_loss(z_post, self.sample_prior(z_post.shape[0]))
            if not torch.isfinite(disc_loss.detach()):
                where = self.step_name("training", batch_idx)
                raise NonFiniteLossError(
                    f"non-finite disc (discriminator loss) at {where} ({float(disc_loss)})"
                )
            opt_disc.zero_grad()
            self.manual_backward(disc_loss)
            opt_disc.step()
        self.untoggle_optimizer(opt_disc)

        # 2. Encoder/decoder step on −L, the discriminator frozen (toggle_optimizer).
        self.toggle_optimizer(opt_ae)
        terms = self.terms(x)
        terms.check_finite(self.step_name("training", batch_idx))
        opt_ae.zero_grad()
        self.manual_backward(terms.loss)
        opt_ae.step()
        self.untoggle_optimizer(opt_ae)

        self.log_terms("train", terms, x.shape[0])
        if self._log_step:
            self.log("train/disc_loss", disc_loss.detach(), batch_size=x.shape[0])

    def optimizer_steps_per_batch(self) -> int:
        return self.hparams.disc_steps + 1

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        ae = super().configure_optimizers()
        disc = adam(self.discriminator.parameters(), self.hparams.disc_lr, self.device)
        return [ae, disc]


register_model(ModelSpec("aae", AdversarialAE, "AAEConf", unused_parameters=True))
