"""Networks and likelihoods, built from primitive specs so checkpoints hold only plain hyperparameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from infovae_lightning.nets.conv import ConvDecoder, ConvEncoder
from infovae_lightning.nets.decoder import Decoder, FactorizedDecoder
from infovae_lightning.nets.encoder import GaussianEncoder, Posterior
from infovae_lightning.nets.likelihoods import (
    DISCRETE_LIKELIHOODS,
    GREY_SIGMA,
    BernoulliLikelihood,
    GaussianLikelihood,
    Likelihood,
    default_sigma_min,
)
from infovae_lightning.nets.logistic_mixture import DEFAULT_COMPONENTS, DiscretizedLogisticMixture
from infovae_lightning.nets.mlp import MLP
from infovae_lightning.nets.pixelcnn import PixelCNNDecoder
from infovae_lightning.nets.registry import (
    DecoderSpec,
    EncoderSpec,
    check_shape,
    check_sizes,
    decoder_spec,
    net_spec,
    network_names,
    network_spec,
    register_decoder,
    register_encoder,
)

LIKELIHOODS = ("bernoulli", "gaussian", "logistic_mixture")


def _network(kind: str, net: Mapping[str, Any], in_shape: Sequence[int], **shapes: Any) -> nn.Module:
    """The `kind` network ("encoder" or "decoder") that `net` (either form, see `registry.net_spec`) names,
    built from its registered record with the part's keys."""
    part = dict(net_spec(net)[kind])
    spec = network_spec(kind, part.pop("name"))
    check_shape(in_shape)
    check_sizes(kind, spec, part)
    return spec.network(in_shape, **shapes, **part)


def build_encoder(
    net: Mapping[str, Any],
    input_shape: Sequence[int],
    latent_dim: int,
    std_floor: float,
    deterministic: bool,
    std_init: float | None = None,
) -> GaussianEncoder:
    out = GaussianEncoder.out_features(latent_dim, deterministic)
    network = _network("encoder", net, input_shape, out_shape=(out,))
    return GaussianEncoder(network, latent_dim, std_floor, deterministic, std_init)


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
    """The decoder `net` names, with `likelihood`: a registered feed-forward network from z to the
    likelihood's parameters (in a `FactorizedDecoder`), or a whole `Decoder` taking the likelihood (PixelCNN).
    """
    spec = dict(likelihood)
    lik = build_likelihood(spec.pop("name"), input_shape, **spec)
    record = decoder_spec(net_spec(net)["decoder"]["name"])
    record.check_likelihood(likelihood["name"])
    if not record.factorized:
        return _network("decoder", net, input_shape, latent_dim=latent_dim, likelihood=lik)
    return FactorizedDecoder(
        _network("decoder", net, (latent_dim,), out_shape=lik.params_shape(input_shape)), lik
    )


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
    "EncoderSpec",
    "DecoderSpec",
    "register_encoder",
    "register_decoder",
    "network_names",
    "net_spec",
    "LIKELIHOODS",
    "DISCRETE_LIKELIHOODS",
    "DEFAULT_COMPONENTS",
    "GREY_SIGMA",
    "default_sigma_min",
]
