"""The network registry: one record per encoder and per decoder, the builders and the config ask it, old flat
`net` specs are read as nested ones, and a new decoder is one module (here: this test) plus one YAML."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import torch
from helpers import compose_config
from omegaconf import OmegaConf
from torch import Tensor, nn

from infovae_lightning.models import MMDVAE
from infovae_lightning.nets import MLP, ConvEncoder, FactorizedDecoder, PixelCNNDecoder
from infovae_lightning.nets.registry import (
    PARTS,
    DecoderSpec,
    decoder_name,
    decoder_spec,
    flat_to_nested,
    net_spec,
    network_names,
    register_decoder,
    unregister_network,
)
from infovae_lightning.run import config
from infovae_lightning.run.train import CONFIG_DIR, run

MLP8 = {"name": "mlp", "hidden": [8]}


def test_the_built_in_records() -> None:
    assert network_names("encoder") == ("conv", "mlp")  # registration order: the modules' import order
    assert network_names("decoder") == ("conv", "mlp", "pixelcnn")
    pixelcnn = decoder_spec("pixelcnn")
    assert not pixelcnn.factorized and pixelcnn.network is PixelCNNDecoder
    assert pixelcnn.accepts("bernoulli") and not pixelcnn.accepts("gaussian")
    assert decoder_spec("conv").factorized and decoder_spec("mlp").accepts("gaussian")
    with pytest.raises(ValueError, match="unknown decoder 'resnet'; choose one of conv, mlp, pixelcnn$"):
        decoder_spec("resnet")
    with pytest.raises(ValueError, match="'mlp' is already registered"):
        register_decoder(decoder_spec("mlp"))


@pytest.mark.parametrize(
    ("flat", "nested"),
    [
        ({"name": "mlp", "hidden": [8]}, {"encoder": MLP8, "decoder": MLP8}),
        (
            {"name": "conv", "channels": [8, 16], "fc": 32},
            {"encoder": {"name": "conv", "channels": [8, 16], "fc": 32}}
            | {"decoder": {"name": "conv", "channels": [8, 16], "fc": 32}},
        ),
        (
            {"name": "pixelcnn", "fc": 32, "pixel_layers": 2, "pixel_kernel": 5},
            {
                "encoder": {"name": "conv", "fc": 32},
                "decoder": {"name": "pixelcnn", "layers": 2, "kernel": 5},
            },
        ),
    ],
)
def test_the_flat_form_of_earlier_versions_converts_to_the_nested_one(flat: dict, nested: dict) -> None:
    assert flat_to_nested(flat) == nested
    # net_spec fills in the signatures' defaults, the same for both forms.
    assert net_spec(flat) == net_spec(nested)
    assert net_spec({"name": "mlp"}) == {"encoder": {"name": "mlp", "hidden": [200, 200, 200]}} | {
        "decoder": {"name": "mlp", "hidden": [200, 200, 200]}
    }
    assert decoder_name(flat) == nested["decoder"]["name"]


def test_the_builders_follow_the_records_and_refuse_bad_specs() -> None:
    mixed = {"encoder": {"name": "conv", "channels": [4, 8], "fc": 16}, "decoder": MLP8}
    model = MMDVAE(latent_dim=2, input_shape=[1, 28, 28], net=mixed)
    assert isinstance(model.encoder.net, ConvEncoder) and isinstance(model.decoder, FactorizedDecoder)
    assert isinstance(model.decoder.net, MLP)
    assert model.hparams.net == mixed
    half = MMDVAE(latent_dim=2, input_shape=[1], net={"decoder": MLP8}, likelihood={"name": "gaussian"})
    assert half.hparams.net["encoder"] == {"name": "mlp", "hidden": [200, 200, 200]}  # a part left out
    with pytest.raises(ValueError, match="unknown encoder 'resnet'; choose one of conv, mlp$"):
        MMDVAE(latent_dim=2, net={"encoder": {"name": "resnet"}, "decoder": MLP8})
    with pytest.raises(ValueError, match=r"net.decoder.hidden must be positive, got \[0\]"):
        MMDVAE(latent_dim=2, net={"encoder": MLP8, "decoder": {"name": "mlp", "hidden": [0]}})
    with pytest.raises(ValueError, match="net has the keys encoder and decoder, not encoders"):
        MMDVAE(latent_dim=2, net={"encoders": MLP8})


def test_every_registered_network_has_a_config_and_every_config_a_record() -> None:
    for kind in PARTS:
        stems = sorted(path.stem for path in (CONFIG_DIR / "net" / kind).glob("*.yaml"))
        assert stems == sorted(network_names(kind)), kind


@pytest.mark.parametrize(
    ("overrides", "encoder", "decoder", "likelihood"),
    [
        (["net=pixelcnn", "data=cifar10"], "conv", "pixelcnn", "logistic_mixture"),
        (["net/decoder=pixelcnn", "data=cifar10"], "mlp", "pixelcnn", "logistic_mixture"),
        (["net/encoder=mlp", "net/decoder=conv", "data=mnist"], "mlp", "conv", "bernoulli"),
        (["net=conv", "net/decoder=mlp", "data=cifar10"], "conv", "mlp", "gaussian"),
    ],
)
def test_presets_and_mixed_choices_compose(overrides, encoder, decoder, likelihood, tmp_path: Path) -> None:
    cfg = compose_config(
        [*overrides, "net.decoder.hidden=[7]" if decoder == "mlp" else "latent_dim=3"], tmp_path
    )
    net = OmegaConf.to_container(cfg.model.net, resolve=True)
    assert (net["encoder"]["name"], net["decoder"]["name"]) == (encoder, decoder)
    assert cfg.model.likelihood.name == likelihood  # follows the decoder
    if decoder == "pixelcnn":  # conf/net/decoder/pixelcnn.yaml's size, whichever encoder
        assert (net["decoder"]["layers"], net["decoder"]["channels"], net["decoder"]["kernel"]) == (5, 16, 5)


# --- a decoder defined outside the package: one module (its class and record) plus one YAML -----------------


class TinyDecoder(nn.Module):
    """z -> the likelihood's parameters through one hidden layer of `width` units, scaled by `gain`."""

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int], width: int = 4, gain: float = 1.0):
        super().__init__()
        self.out_shape, self.gain = tuple(out_shape), gain
        self.layers = nn.Sequential(
            nn.Linear(math.prod(in_shape), width), nn.Tanh(), nn.Linear(width, math.prod(out_shape))
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.gain * self.layers(z).view(z.shape[0], *self.out_shape)


@pytest.fixture
def tiny() -> Iterator[DecoderSpec]:
    spec = register_decoder(DecoderSpec("tiny", TinyDecoder, sizes=("width",)))
    yield spec
    unregister_network("decoder", "tiny")


def test_a_new_decoder_is_one_module_plus_one_yaml_and_trains(tiny: DecoderSpec, tmp_path: Path) -> None:
    assert "TinyDecoderConf" in config.SCHEMAS  # stored when registered
    conf = tmp_path / "conf"
    (conf / "net" / "decoder").mkdir(parents=True)
    yaml = "defaults:\n  - /schema/net/decoder/tiny@_here_\n  - _self_\nwidth: 6\n"
    (conf / "net" / "decoder" / "tiny.yaml").write_text(yaml)
    overrides = [f"hydra.searchpath=[file://{conf}]", "data=toy", "net/decoder=tiny", "net.decoder.gain=0.5"]
    overrides += ["trainer.max_steps=3", "metrics=none", "logger=none"]
    overrides += ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
    cfg = compose_config(overrides, output_dir=tmp_path / "run")
    assert OmegaConf.to_container(cfg.net.decoder) == {"name": "tiny", "width": 6, "gain": 0.5}
    with pytest.raises(Exception, match="widht"):  # the schema refuses a misspelled key
        compose_config([*overrides, "net.decoder.widht=3"])
    metrics = run(cfg)
    assert math.isfinite(metrics["train/loss"])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["global_step"] == 3
    assert summary["config"]["model"]["net"]["decoder"] == {"name": "tiny", "width": 6, "gain": 0.5}
    with pytest.raises(ValueError, match=r"net.decoder.width must be positive"):
        MMDVAE(latent_dim=2, input_shape=[1], net={"decoder": {"name": "tiny", "width": 0}})
    model = MMDVAE(
        latent_dim=2, input_shape=[1], net={"decoder": {"name": "tiny"}}, likelihood={"name": "gaussian"}
    )
    assert isinstance(model.decoder.net, TinyDecoder) and model.hparams.net["decoder"]["width"] == 4
    x = torch.tensor([[1.0], [-1.0]] * 4)
    assert torch.isfinite(model.terms(x).loss)
