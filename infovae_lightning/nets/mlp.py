"""Multilayer perceptron: the paper's toy experiment uses 3 hidden layers of 200 units."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from infovae_lightning.nets.registry import DecoderSpec, EncoderSpec, register_decoder, register_encoder


class MLP(nn.Module):
    """Maps an input of shape `in_shape` to an output of shape `out_shape` through ReLU hidden layers.

    Shapes rather than sizes, so the same class serves as an encoder (image → vector) and as a decoder
    (vector → image) without reshaping code in the models.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        out_shape: Sequence[int],
        hidden: Sequence[int] = (200, 200, 200),  # the paper's toy experiment: 3 hidden layers of 200 units
    ) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        widths = [math.prod(in_shape), *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for w_in, w_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(w_in, w_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], math.prod(out_shape)))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x).view(x.shape[0], *self.out_shape)


register_encoder(EncoderSpec("mlp", MLP, sizes=("hidden",)))
register_decoder(DecoderSpec("mlp", MLP, sizes=("hidden",)))
