"""Networks and likelihoods, built from primitive specs so checkpoints hold only plain hyperparameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from infovae_lightning.nets.conv import ConvDecoder, ConvEncoder
from infovae_lightning.nets.decoder import Decoder, FactorizedDecoder
from infovae_lightning.nets.encoder import GaussianEncoder, Posterior
from infovae_lightning.nets.likelihoods import (
    GREY_SIGMA,
    BernoulliLikelihood,
    GaussianLikelihood,
    Likelihood,
    default_sigma_min,
)
from infovae_lightning.nets.logistic_mixture import DEFAULT_COMPONENTS, DiscretizedLogisticMixture
from infovae_lightning.nets.mlp import MLP
from infovae_lightning.nets.pixelcnn import PixelCNNDecoder

NETS = ("mlp", "conv", "pixelcnn")
# net=pixelcnn's keys for its decoder; the others (channels, fc) configure its conv encoder.
PIXELCNN_KEYS = ("pixel_layers", "pixel_channels", "pixel_kernel")
LIKELIHOODS = ("bernoulli", "gaussian", "logistic_mixture")
DISCRETE_LIKELIHOODS = ("bernoulli", "logistic_mixture")  # those an autoregressive decoder can use


def check_sizes(spec: Mapping[str, Any], in_shape: Sequence[int]) -> None:
    """Layer widths, counts and the input's dimensions must be positive (torch would fail obscurely)."""
    if not in_shape or any(int(d) < 1 for d in in_shape):
        raise ValueError(f"input_shape must be positive sizes, got {list(in_shape)}")
    for key, value in spec.items():
        values = value if isinstance(value, list | tuple) else [value]
        if key in ("hidden", "channels", "fc", *PIXELCNN_KEYS) and any(
            isinstance(v, int) and not isinstance(v, bool) and v < 1 for v in values
        ):
            raise ValueError(f"net.{key} must be positive, got {value}")


def _networks(
    net: Mapping[str, Any], in_shape: Sequence[int], out_shape: Sequence[int], encode: bool
) -> nn.Module:
    spec = dict(net)
    name = spec.pop("name")
    check_sizes(spec, in_shape)
    if name == "mlp":
        return MLP(in_shape, out_shape, hidden=spec.pop("hidden"), **spec)
    if name == "conv" or (name == "pixelcnn" and encode):
        for key in PIXELCNN_KEYS:
            spec.pop(key, None)
        return (ConvEncoder if encode else ConvDecoder)(in_shape, out_shape, **spec)
    raise ValueError(f"unknown net {name!r}; choose one of {', '.join(NETS)}")


def build_encoder(
    net: Mapping[str, Any], input_shape: Sequence[int], latent_dim: int, std_floor: float, deterministic: bool
) -> GaussianEncoder:
    out = GaussianEncoder.out_features(latent_dim, deterministic)
    return GaussianEncoder(_networks(net, input_shape, (out,), True), latent_dim, std_floor, deterministic)


def build_likelihood(
    name: str,
    input_shape: Sequence[int],
    sigma: float = GREY_SIGMA,
    learn_sigma: bool = False,
    components: int = DEFAULT_COMPONENTS,
    sigma_min: float | None = None,
    levels: int | None = None,
) -> Likelihood:
    """`sigma`, `learn_sigma`, `sigma_min` and `levels` belong to the Gaussian (see `GaussianLikelihood`),
    `components` to the logistic mixture; each is checked whichever likelihood is used, so a bad value is
    caught when it is set, not when it comes into use."""
    if not sigma > 0:
        raise ValueError(f"likelihood sigma must be > 0, got {sigma}")
    if isinstance(components, bool) or not isinstance(components, int) or components < 1:
        raise ValueError(f"likelihood components must be >= 1, got {components}")
    if name == "bernoulli":
        return BernoulliLikelihood()
    if name == "gaussian":
        return GaussianLikelihood(input_shape, sigma, learn_sigma, sigma_min, levels)
    if name == "logistic_mixture":
        return DiscretizedLogisticMixture(input_shape, components)
    raise ValueError(f"unknown likelihood {name!r}; choose one of {', '.join(LIKELIHOODS)}")


def build_decoder(
    net: Mapping[str, Any], input_shape: Sequence[int], latent_dim: int, likelihood: Mapping[str, Any]
) -> Decoder:
    spec = dict(likelihood)
    lik = build_likelihood(spec.pop("name"), input_shape, **spec)
    if net["name"] == "pixelcnn":
        if likelihood["name"] not in DISCRETE_LIKELIHOODS:
            raise ValueError(
                "the pixelcnn decoder models discrete pixels: a bernoulli likelihood for binary images "
                f"or logistic_mixture for 8-bit ones, not {likelihood['name']}"
            )
        sizes = {key.removeprefix("pixel_"): net[key] for key in PIXELCNN_KEYS if key in net}
        return PixelCNNDecoder(input_shape, latent_dim, lik, **sizes)
    return FactorizedDecoder(_networks(net, (latent_dim,), lik.params_shape(input_shape), False), lik)


__all__ = [
    "MLP",
    "ConvEncoder",
    "ConvDecoder",
    "Decoder",
    "FactorizedDecoder",
    "PixelCNNDecoder",
    "GaussianEncoder",
    "Posterior",
    "Likelihood",
    "BernoulliLikelihood",
    "GaussianLikelihood",
    "DiscretizedLogisticMixture",
    "build_encoder",
    "build_decoder",
    "build_likelihood",
    "NETS",
    "LIKELIHOODS",
    "DISCRETE_LIKELIHOODS",
    "DEFAULT_COMPONENTS",
    "GREY_SIGMA",
    "default_sigma_min",
]
