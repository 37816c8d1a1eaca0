"""The registry of networks: one `EncoderSpec` per encoder network and one `DecoderSpec` per decoder, each
registered by the module that defines the class.

A model's `net` hyperparameter names one of each, with the class's keyword arguments beside the name:

    net: {encoder: {name: conv, channels: [64, 128], fc: 1024},
          decoder: {name: pixelcnn, layers: 5, channels: 16, kernel: 5}}

`nets.build_encoder` and `nets.build_decoder` look the names up here, and the Hydra schemas of
`conf/net/encoder/<name>.yaml` and `conf/net/decoder/<name>.yaml` are generated from the registered classes'
signatures (`run.config`), so nothing else names a network.

Adding a decoder (a ResNet, say; an encoder is the same with `EncoderSpec` and `register_encoder`):

1. `infovae_lightning/nets/resnet.py` (or a module of your own, imported before the model is built): the
   class, `ResNetDecoder(in_shape, out_shape, blocks=4, ...)`, mapping z (`in_shape`: (latent_dim,)) to the
   likelihood's parameters (`out_shape`), and `register_decoder(DecoderSpec("resnet", ResNetDecoder,
   sizes=("blocks",)))`. A whole `Decoder` that takes the likelihood itself (an autoregressive one) sets
   `factorized=False` and receives `(input_shape, latent_dim, likelihood, **keys)`.
2. `conf/net/decoder/resnet.yaml`: `defaults: [/schema/net/decoder/resnet@_here_, _self_]` and the values
   that differ from the signature's.

Then `python train.py net/decoder=resnet`. tests/test_net_registry.py trains one defined in the test.

Checkpoints of earlier versions hold `net` flat (`{name: mlp, hidden: [...]}`, `{name: conv, channels, fc}`,
`{name: pixelcnn, channels, fc, pixel_layers, pixel_channels, pixel_kernel}`): `net_spec` turns them into
the nested form, wherever a `net` is read.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

# Arguments the builders pass (shapes, the likelihood): not config keys.
BUILDER_ARGS = ("in_shape", "out_shape", "input_shape", "latent_dim", "likelihood")
PARTS = ("encoder", "decoder")
DEFAULT_NETWORK = "mlp"  # a part `net` leaves out
# The flat form of earlier versions: net=pixelcnn was a conv encoder and a PixelCNN decoder whose keys had
# this prefix.
_OLD_PIXELCNN, _OLD_PREFIX = "pixelcnn", "pixel_"


@dataclass(frozen=True)
class EncoderSpec:
    """An encoder network.

    Args:
        name: the `net.encoder.name` that selects it (and the stem of `conf/net/encoder/<name>.yaml`).
        network: builds it: `network(in_shape, out_shape, **keys)`, mapping an x of shape `in_shape` to the
            Gaussian posterior's parameters (shape `out_shape`); its other keyword arguments are the keys.
        sizes: keys that are sizes (an int or a list of ints), refused unless positive before building.
    """

    name: str
    network: Callable[..., nn.Module]
    sizes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_name(self.name)


@dataclass(frozen=True)
class DecoderSpec:
    """A decoder.

    Args:
        name: the `net.decoder.name` that selects it (the stem of `conf/net/decoder/<name>.yaml`).
        network: builds it. `factorized`: a feed-forward network `network(in_shape, out_shape, **keys)` from
            z to the likelihood's parameters of every pixel, wrapped in `FactorizedDecoder`; otherwise a
            whole `Decoder`, `network(input_shape, latent_dim, likelihood, **keys)` (an autoregressive one).
        sizes: keys that are sizes, refused unless positive before building.
        likelihoods: the likelihoods it accepts; None: any. On data that is not binary, a decoder that does
            not accept "gaussian" gets "logistic_mixture" by default (`data.natural_likelihood`).
        refusal: why it refuses the others, for the error message ("the <name> decoder <refusal>, not <x>").
    """

    name: str
    network: Callable[..., nn.Module]
    factorized: bool = True
    sizes: tuple[str, ...] = ()
    likelihoods: tuple[str, ...] | None = None
    refusal: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name)

    def accepts(self, likelihood: str) -> bool:
        return self.likelihoods is None or likelihood in self.likelihoods

    def check_likelihood(self, likelihood: str) -> None:
        if not self.accepts(likelihood):
            why = self.refusal or f"takes a likelihood among {', '.join(self.likelihoods or ())}"
            raise ValueError(f"the {self.name} decoder {why}, not {likelihood}")


def _check_name(name: str) -> None:
    if not name.isidentifier():
        raise ValueError(f"a network's name must be an identifier (a config file stem), got {name!r}")


_ENCODERS: dict[str, EncoderSpec] = {}
_DECODERS: dict[str, DecoderSpec] = {}
_LISTENERS: list[Callable[[str, EncoderSpec | DecoderSpec], None]] = []


def _register(kind: str, table: dict[str, Any], spec: Any, replace: bool) -> Any:
    if spec.name in table and not replace:
        raise ValueError(f"{kind} {spec.name!r} is already registered; pass replace=True to redefine it")
    table[spec.name] = spec
    for listener in _LISTENERS:
        listener(kind, spec)
    return spec


def register_encoder(spec: EncoderSpec, *, replace: bool = False) -> EncoderSpec:
    """Adds `spec` under `spec.name` (refusing to replace another record unless `replace`); returns it."""
    return _register("encoder", _ENCODERS, spec, replace)


def register_decoder(spec: DecoderSpec, *, replace: bool = False) -> DecoderSpec:
    """Adds `spec` under `spec.name` (refusing to replace another record unless `replace`); returns it."""
    return _register("decoder", _DECODERS, spec, replace)


def unregister_network(kind: str, name: str) -> None:
    """Removes encoder or decoder `name` (tests that register one of their own clean up with it)."""
    network_spec(kind, name)
    del _table(kind)[name]


def on_register(listener: Callable[[str, EncoderSpec | DecoderSpec], None]) -> None:
    """Calls `listener(kind, spec)` for every network registered from now on (`run.config` stores each one's
    Hydra schema so)."""
    _LISTENERS.append(listener)


def _table(kind: str) -> dict[str, Any]:
    if kind not in PARTS:
        raise ValueError(f"a network is an encoder or a decoder, not {kind!r}")
    return _ENCODERS if kind == "encoder" else _DECODERS


def network_names(kind: str) -> tuple[str, ...]:
    """The registered encoders or decoders (`kind`), in registration order."""
    return tuple(_table(kind))


def network_spec(kind: str, name: str) -> Any:
    """The record of encoder or decoder `name`; a `ValueError` listing the registered names otherwise."""
    table = _table(kind)
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; choose one of {', '.join(table)}") from None


def encoder_spec(name: str) -> EncoderSpec:
    return network_spec("encoder", name)


def decoder_spec(name: str) -> DecoderSpec:
    return network_spec("decoder", name)


# --- the `net` hyperparameter -------------------------------------------------------------------------------


def network_defaults(network: Callable[..., Any]) -> dict[str, Any]:
    """The keys of `network` with a default in its signature (tuples as lists): the values a `net` part
    that leaves them out gets, written into the hyperparameters."""
    found = {}
    for name, p in inspect.signature(network).parameters.items():
        if name in BUILDER_ARGS or p.default is inspect.Parameter.empty:
            continue
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            found[name] = _plain(p.default)
    return found


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, tuple | list) else value


def flat_to_nested(net: Mapping[str, Any]) -> dict[str, Any]:
    """An earlier version's flat `net` as the nested one: `{name: mlp, hidden}` and `{name: conv, channels,
    fc}` are that network as encoder and decoder, `{name: pixelcnn, channels, fc, pixel_*}` a conv encoder
    and a PixelCNN decoder (the `pixel_` keys, unprefixed). A nested `net` is returned as it is (copied)."""
    if "name" not in net:
        return {key: dict(value) if isinstance(value, Mapping) else value for key, value in net.items()}
    spec = dict(net)
    name = spec.pop("name")
    decoder_keys = {
        key.removeprefix(_OLD_PREFIX): spec.pop(key) for key in list(spec) if key.startswith(_OLD_PREFIX)
    }
    if name == _OLD_PIXELCNN:
        return {"encoder": {"name": "conv", **spec}, "decoder": {"name": _OLD_PIXELCNN, **decoder_keys}}
    return {"encoder": {"name": name, **spec}, "decoder": {"name": name, **spec, **decoder_keys}}


def net_spec(net: Mapping[str, Any]) -> dict[str, Any]:
    """`net` in the nested form with every key filled in: the flat form of earlier versions converted
    (`flat_to_nested`), a part left out the default network, and each registered network's signature defaults
    for the keys its part leaves out (so a checkpoint says what it built). The one place that reads a `net`:
    the models' `__init__` (also when Lightning loads a checkpoint) and `run.checkpoints.upgrade_hparams`
    (resuming compares the saved and requested values)."""
    nested = flat_to_nested(net)
    unknown = sorted(set(nested) - set(PARTS))
    if unknown:
        raise ValueError(f"net has the keys encoder and decoder, not {', '.join(map(str, unknown))}")
    filled = {}
    for kind in PARTS:
        part = dict(nested.get(kind) or {"name": DEFAULT_NETWORK})
        name = part.setdefault("name", DEFAULT_NETWORK)
        table = _table(kind)
        if name in table:  # an unknown name is refused when the network is built
            part = {"name": name, **network_defaults(table[name].network), **part}
        filled[kind] = part
    return filled


def decoder_name(net: Mapping[str, Any]) -> str:
    """The name of the decoder `net` (either form) selects: what the natural likelihood depends on."""
    return str(net_spec(net)["decoder"]["name"])


def check_sizes(kind: str, spec: Any, part: Mapping[str, Any]) -> None:
    """The record's size keys of `part` must be positive (torch would fail obscurely)."""
    for key in spec.sizes:
        value = part.get(key)
        values = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, int) and not isinstance(v, bool) and v < 1 for v in values):
            raise ValueError(f"net.{kind}.{key} must be positive, got {value}")


def check_shape(in_shape: Sequence[int]) -> None:
    if not in_shape or any(int(d) < 1 for d in in_shape):
        raise ValueError(f"input_shape must be positive sizes, got {list(in_shape)}")
