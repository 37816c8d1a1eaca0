"""A conditional gated PixelCNN decoder p(x|z) (van den Oord et al., 2016, "Conditional
Image Generation with PixelCNN Decoders"); InfoVAE's experiments use "a simplified version of the conditional
PixelCNN" to argue that a decoder this expressive lets the ELBO ignore z while InfoVAE keeps using it (the
README's PixelCNN section says what we measured).

    p(x|z) = Π_i p(x_i | x_<i, z)   (pixels i in raster order)

Each layer has two stacks, so the receptive field has no blind spot:

- the vertical stack sees every pixel of the rows above and of the current row (a (k//2+1)×k convolution
  on the input padded above); shifted down by one row before it feeds the horizontal stack, it only brings in
  rows strictly above;
- the horizontal stack sees the pixels to the left in the current row: strictly to the left in the first
  layer (mask "A", which excludes x_i itself), up to the current pixel afterwards (mask "B").

Both stacks use gated activations tanh(a)·σ(b), and z enters every layer as a per-channel bias of both gates.
The output, from the horizontal stack, holds the likelihood's parameters of every pixel at once: log p(x|z) is
one forward pass; sampling takes one pass per pixel (784 for MNIST), batched over the images.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infovae_lightning.nets.decoder import Decoder
from infovae_lightning.nets.likelihoods import DISCRETE_LIKELIHOODS, Likelihood
from infovae_lightning.nets.registry import DecoderSpec, register_decoder


def _gate(t: Tensor) -> Tensor:
    a, b = t.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """One gated layer with its vertical and horizontal stacks; `first` makes the horizontal mask type A."""

    def __init__(self, in_channels: int, channels: int, kernel: int, latent_dim: int, first: bool) -> None:
        super().__init__()
        if kernel < 3 or kernel % 2 == 0:
            raise ValueError(f"pixelcnn kernel must be odd and >= 3, got {kernel}")
        self.half, self.first = kernel // 2, first
        self.vertical = nn.Conv2d(in_channels, 2 * channels, (self.half + 1, kernel))
        # Type A (first layer): the pixels strictly left of i; type B: up to and including i.
        self.horizontal = nn.Conv2d(in_channels, 2 * channels, (1, self.half + (0 if first else 1)))
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.horizontal_out = nn.Conv2d(channels, channels, 1)
        self.condition = nn.Linear(latent_dim, 4 * channels)  # z: a bias of each gate of both stacks

    def forward(self, v: Tensor, h: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        half, width = self.half, h.shape[-1]
        v_pre = self.vertical(F.pad(v, (half, half, half, 0)))  # row r: rows r-half .. r
        v_down = F.pad(v_pre, (0, 0, 1, 0))[:, :, :-1]  # shifted a row down: rows < r only
        # Column c: columns c-half .. c (type B), or c-half .. c-1 (type A, one column narrower).
        h_pre = self.horizontal(F.pad(h, (half, 0, 0, 0)))[..., :width]
        h_pre = h_pre + self.vertical_to_horizontal(v_down)
        cond_v, cond_h = self.condition(z)[:, :, None, None].chunk(2, dim=1)
        v_out = _gate(v_pre + cond_v)
        h_out = self.horizontal_out(_gate(h_pre + cond_h))
        return v_out, h_out if self.first else h + h_out  # residual along the horizontal stack


class PixelCNNDecoder(Decoder):
    """Gated conditional PixelCNN over images of `input_shape` (C, H, W), conditioned on z.

    The output parametrises `likelihood` at every pixel: Bernoulli logits for binary images, a discretized
    logistic mixture for 8-bit ones (whose channels of one pixel are chained inside the likelihood, as in
    PixelCNN++, so the masks only order the pixels).

    Args:
        layers: gated layers (the first one masked type A).
        channels: feature maps of each stack.
        kernel: odd kernel size of the stacks; each layer reaches kernel//2 rows further up.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int,
        likelihood: Likelihood,
        layers: int = 5,
        channels: int = 32,
        kernel: int = 3,
    ) -> None:
        super().__init__()
        if layers < 1 or channels < 1:
            raise ValueError(f"pixelcnn needs layers >= 1 and channels >= 1, got {layers} and {channels}")
        self.input_shape = tuple(int(s) for s in input_shape)
        if len(self.input_shape) != 3:
            raise ValueError(f"the pixelcnn decoder models images (C, H, W), not shape {tuple(input_shape)}")
        self.likelihood = likelihood
        in_channels, params = self.input_shape[0], likelihood.params_shape(self.input_shape)[0]
        self.layers = nn.ModuleList(
            GatedLayer(in_channels if i == 0 else channels, channels, kernel, latent_dim, first=i == 0)
            for i in range(layers)
        )
        self.out = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, params, 1)
        )
        # Output row r depends on the input rows r − context … r only (kernel//2 rows up per layer, plus the
        # vertical stack's one-row shift), so sampling row r needs only those rows.
        self.context = layers * (kernel // 2) + 1

    def params(self, x: Tensor, z: Tensor) -> Tensor:
        """The likelihood's parameters of p(x_i | x_<i, z) for every pixel i, in one pass: [B, P, H, W]."""
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h, z)
        return self.out(h)

    def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
        # float32 under bf16 autocast: the likelihood's sums over 784 pixels need its precision.
        return self.likelihood.log_prob(x, self.params(x, z).float())

    @torch.no_grad()
    def sample(self, z: Tensor) -> Tensor:
        """Ancestral sampling in raster order, batched over z: one pass per pixel, each over the rows that
        pixel can see (`context` rows) rather than the whole image."""
        x = torch.zeros(z.shape[0], *self.input_shape, device=z.device)
        _, height, width = self.input_shape
        for row in range(height):
            top = max(0, row - self.context)
            for col in range(width):
                params = self.params(x[:, :, top : row + 1], z)[..., -1:, col : col + 1]
                x[:, :, row : row + 1, col : col + 1] = self.likelihood.sample(params)
        return x


register_decoder(
    DecoderSpec(
        "pixelcnn",
        PixelCNNDecoder,
        factorized=False,  # a whole Decoder: it takes the likelihood, whose parameters depend on x_<i
        sizes=("layers", "channels", "kernel"),
        likelihoods=DISCRETE_LIKELIHOODS,
        refusal="models discrete pixels: a bernoulli likelihood for binary images or logistic_mixture for "
        "8-bit ones",
    )
)
