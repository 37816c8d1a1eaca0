"""DCGAN-style convolutional encoder and decoder, as in the InfoVAE authors' MNIST code.

Encoder: conv 64 (4×4, stride 2) → conv 128 (4×4, stride 2) → FC 1024 → output, LeakyReLU between.
Decoder mirrors it: FC 1024 → FC 128·(s/4)² → transposed conv 64 → transposed conv C, ReLU between.
Works for any square image whose side is divisible by 4 (28×28 MNIST, 32×32 CIFAR-10).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from infovae_lightning.nets.registry import DecoderSpec, EncoderSpec, register_decoder, register_encoder


def _image_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] % 4:
        raise ValueError(f"the conv net needs C×S×S images with S divisible by 4, got shape {tuple(shape)}")
    return shape[0], shape[1]


class ConvEncoder(nn.Module):
    def __init__(
        self,
        in_shape: Sequence[int],
        out_shape: Sequence[int],
        channels: Sequence[int] = (64, 128),
        fc: int = 1024,
    ) -> None:
        super().__init__()
        c, side = _image_shape(in_shape)
        c1, c2 = channels
        self.out_shape = tuple(out_shape)
        self.layers = nn.Sequential(
            nn.Conv2d(c, c1, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(c2 * (side // 4) ** 2, fc),
            nn.LeakyReLU(0.2),
            nn.Linear(fc, math.prod(out_shape)),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x).view(x.shape[0], *self.out_shape)


class ConvDecoder(nn.Module):
    def __init__(
        self,
        in_shape: Sequence[int],
        out_shape: Sequence[int],
        channels: Sequence[int] = (64, 128),
        fc: int = 1024,
    ) -> None:
        super().__init__()
        c, side = _image_shape(out_shape)
        c1, c2 = channels
        s4 = side // 4
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(in_shape), fc),
            nn.ReLU(),
            nn.Linear(fc, c2 * s4 * s4),
            nn.ReLU(),
            nn.Unflatten(1, (c2, s4, s4)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c1, c, 4, stride=2, padding=1),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.layers(z)


register_encoder(EncoderSpec("conv", ConvEncoder, sizes=("channels", "fc")))
register_decoder(DecoderSpec("conv", ConvDecoder, sizes=("channels", "fc")))
