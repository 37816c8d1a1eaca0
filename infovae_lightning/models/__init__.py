"""One LightningModule per model; all share `InfoVAE` and differ in their divergence D(q(z)‖p(z))."""

from infovae_lightning.models.aae import AdversarialAE
from infovae_lightning.models.base import InfoVAE
from infovae_lightning.models.elbo import ELBOVAE
from infovae_lightning.models.mmd import MMDVAE
from infovae_lightning.models.stein import SteinVAE

__all__ = ["InfoVAE", "ELBOVAE", "MMDVAE", "SteinVAE", "AdversarialAE"]
