"""The decoder p(x|z).

Every decoder answers two questions: log p(x|z) for a batch (one value per example, summed over
pixels) and a sample x ~ p(x|z). That is all the models and metrics use, so an autoregressive
decoder (a conditional PixelCNN, whose log p(x|z) takes x as input) fits the same interface.
"""

from __future__ import annotations

from torch import Tensor, nn

from infovae_lightning.nets.likelihoods import Likelihood


class Decoder(nn.Module):
    def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z), shape [batch]."""
        raise NotImplementedError

    def sample(self, z: Tensor) -> Tensor:
        """x ~ p(x|z)."""
        raise NotImplementedError

    def mean(self, z: Tensor) -> Tensor:
        """E[x|z], for reconstructions and sample grids (an autoregressive decoder may return a sample)."""
        return self.sample(z)


class FactorizedDecoder(Decoder):
    """p(x|z) = Π_pixels p(x_i | net(z)_i): a network followed by a per-pixel likelihood."""

    def __init__(self, net: nn.Module, likelihood: Likelihood) -> None:
        super().__init__()
        self.net = net
        self.likelihood = likelihood

    def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        # float32 under bf16 autocast (a no-op otherwise): the likelihood's sums over 784 pixels need it.
        return self.likelihood.log_prob(x, self.net(z).float())

    def sample(self, z: Tensor) -> Tensor:
        return self.likelihood.sample(self.net(z))

    def mean(self, z: Tensor) -> Tensor:
        return self.likelihood.mean(self.net(z))
