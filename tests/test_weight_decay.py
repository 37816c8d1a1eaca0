"""`model.weight_decay`: AdamW on the networks' weights (`model.weight_decay_nets`: which networks), never on
biases or a likelihood's σ."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from infovae_lightning.models import ELBOVAE

GAUSSIAN = {"name": "gaussian", "learn_sigma": True}


def groups(model: ELBOVAE) -> dict[float, set[int]]:
    optimizer = model.configure_optimizers()
    return {g["weight_decay"]: {id(p) for p in g["params"]} for g in optimizer.param_groups}


def test_weight_decay_reaches_the_layer_weights_only() -> None:
    model = ELBOVAE(weight_decay=0.1, likelihood=GAUSSIAN)
    assert isinstance(model.configure_optimizers(), torch.optim.AdamW)
    by_decay = groups(model)
    weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    assert weights and by_decay[0.1] == weights
    assert id(model.decoder.likelihood.log_sigma) in by_decay[0.0]  # decay would pull σ towards 1
    assert all(id(m.bias) in by_decay[0.0] for m in model.modules() if isinstance(m, nn.Linear))


def test_no_weight_decay_is_plain_adam_and_frozen_weights_stay_out() -> None:
    model = ELBOVAE(freeze="encoder")
    optimizer = model.configure_optimizers()
    assert type(optimizer) is torch.optim.Adam
    assert len(optimizer.param_groups) == 1  # as in checkpoints of earlier versions, which then resume
    trained = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert trained == {id(p) for p in model.decoder.parameters()}


def test_decay_shrinks_weights_that_get_no_gradient() -> None:
    model = ELBOVAE(weight_decay=1.0, lr=0.1)
    optimizer = model.configure_optimizers()
    layer = next(m for m in model.modules() if isinstance(m, nn.Linear))
    before = layer.weight.detach().norm().item()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    assert layer.weight.norm().item() < before * 0.95


def test_weight_decay_nets_leaves_the_other_network_undecayed() -> None:
    model = ELBOVAE(weight_decay=0.1, weight_decay_nets=["decoder"], likelihood=GAUSSIAN)
    by_decay = groups(model)
    decoder = {id(m.weight) for m in model.decoder.modules() if isinstance(m, nn.Linear)}
    encoder = {id(m.weight) for m in model.encoder.modules() if isinstance(m, nn.Linear)}
    assert decoder and by_decay[0.1] == decoder
    assert encoder and encoder <= by_decay[0.0]
    assert model.hparams.weight_decay_nets == ["decoder"]


def test_weight_decay_nets_names_networks() -> None:
    with pytest.raises(ValueError, match="weight_decay_nets must be among encoder, decoder"):
        ELBOVAE(weight_decay=0.1, weight_decay_nets=["discriminator"])
