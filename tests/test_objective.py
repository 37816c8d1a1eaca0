"""The InfoVAE objective: weights, special cases, and its validation."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from infovae_lightning.models import ELBOVAE, MMDVAE
from infovae_lightning.objective import InfoVAEObjective


def test_weights_follow_the_paper() -> None:
    obj = InfoVAEObjective(alpha=0.3, lam=10.0)
    assert obj.kl_weight == pytest.approx(0.7)
    assert obj.div_weight == pytest.approx(9.3)
    loss = obj.loss(torch.tensor(-100.0), torch.tensor(2.0), torch.tensor(0.5))
    assert float(loss) == pytest.approx(100.0 + 0.7 * 2.0 + 9.3 * 0.5)


@pytest.mark.parametrize(
    ("alpha", "lam", "message"),
    [(1.5, 1.0, "alpha must be <= 1"), (0.0, -1.0, "lam"), (0.0, 0.5, "alpha \\+ lam - 1")],
)
def test_invalid_weights_are_refused(alpha: float, lam: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InfoVAEObjective(alpha, lam)


def test_alpha0_lam1_is_the_negative_elbo() -> None:
    torch.manual_seed(0)
    model = ELBOVAE(latent_dim=4, input_shape=(1, 28, 28), net={"name": "mlp", "hidden": [32]})
    x = torch.bernoulli(torch.rand(8, 1, 28, 28))

    torch.manual_seed(1)
    loss = model.terms(x).loss

    # Independent computation with torch.distributions, same noise.
    torch.manual_seed(1)
    q = model.encoder(x)
    qz = Normal(q.mean, q.std)
    z = q.mean + q.std * torch.randn_like(q.mean)
    log_px = Bernoulli(logits=model.decoder.net(z)).log_prob(x).flatten(1).sum(1)
    kl = kl_divergence(qz, Normal(0.0, 1.0)).sum(1)
    negative_elbo = -(log_px - kl).mean()
    assert loss.item() == pytest.approx(negative_elbo.item(), rel=1e-5)


def test_mmd_model_combines_terms_with_infovae_weights() -> None:
    torch.manual_seed(0)
    model = MMDVAE(latent_dim=3, alpha=0.25, lam=40.0, net={"name": "mlp", "hidden": [16]})
    x = torch.bernoulli(torch.rand(16, 1, 28, 28))
    torch.manual_seed(3)
    terms = model.terms(x)
    expected = -(terms.log_px - 0.75 * terms.kl - 39.25 * terms.div.value)
    assert terms.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert float(terms.div.value) > 0


def test_elbo_model_refuses_a_divergence_weight() -> None:
    with pytest.raises(ValueError, match="alpha \\+ lam = 1"):
        ELBOVAE(alpha=0.0, lam=10.0)


def test_deterministic_encoder_needs_alpha_one() -> None:
    with pytest.raises(ValueError, match="alpha=1"):
        MMDVAE(deterministic=True, alpha=0.0)
    model = MMDVAE(deterministic=True, alpha=1.0, lam=10.0, latent_dim=2)
    terms = model.terms(torch.bernoulli(torch.rand(4, 1, 28, 28)))
    assert terms.kl is None and torch.isfinite(terms.loss)


def test_lam_warmup_is_off_by_default() -> None:
    objective = InfoVAEObjective(alpha=0.0, lam=1000.0)
    assert objective.lam_warmup_steps == 0
    assert [objective.div_weight_at(step) for step in (0, 1, 10**6)] == [999.0] * 3
    assert MMDVAE(latent_dim=2).objective.lam_warmup_steps == 0


def test_lam_warmup_schedule() -> None:
    # λ goes linearly from 1 to its value over the first N steps; the D weight α + λ − 1 follows.
    objective = InfoVAEObjective(alpha=0.0, lam=1000.0, lam_warmup_steps=100)
    weights = [objective.div_weight_at(step) for step in (0, 1, 50, 99, 100, 5000)]
    assert weights == pytest.approx([0.0, 9.99, 499.5, 989.01, 999.0, 999.0])
    assert objective.div_weight == 999.0  # the objective itself is unchanged
    alpha1 = InfoVAEObjective(alpha=1.0, lam=784.0, lam_warmup_steps=10)
    assert [alpha1.div_weight_at(step) for step in (0, 5, 10)] == pytest.approx([1.0, 392.5, 784.0])
    below_one = InfoVAEObjective(alpha=1.0, lam=0.5, lam_warmup_steps=10)  # nothing to warm up
    assert below_one.div_weight_at(0) == below_one.div_weight == 0.5
    with pytest.raises(ValueError, match="lam_warmup_steps"):
        InfoVAEObjective(alpha=0.0, lam=10.0, lam_warmup_steps=-1)


def test_training_steps_follow_the_warmup_and_evaluation_the_full_objective() -> None:
    import lightning as L
    from helpers import QUIET_TRAINER
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    model = MMDVAE(
        latent_dim=2, alpha=0.0, lam=101.0, lam_warmup_steps=4, net={"name": "mlp", "hidden": [16]}
    )
    assert "train_div_weight" not in model.state_dict()  # not saved: it follows from global_step
    seen: list[tuple[int, float]] = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            seen.append((trainer.global_step - 1, pl_module.train_div_weight.item()))

    x = torch.bernoulli(torch.rand(24, 1, 28, 28))
    data = DataLoader(TensorDataset(x, torch.zeros(24)), batch_size=8)
    L.Trainer(max_steps=6, callbacks=[Record()], accelerator="cpu", **QUIET_TRAINER).fit(model, data)
    assert seen == [(step, pytest.approx(25.0 * min(step, 4))) for step in range(6)]

    model.train_div_weight.fill_(0.0)  # as at step 0 of the warm-up
    torch.manual_seed(3)
    train = model.train().terms(x[:8])
    assert train.loss.item() == pytest.approx(-(train.log_px - train.kl).item(), rel=1e-6)
    torch.manual_seed(3)
    full = model.eval().terms(x[:8])
    expected = -(full.log_px - full.kl - 100.0 * full.div.value)
    assert full.loss.item() == pytest.approx(expected.item(), rel=1e-6)
