"""The conditional gated PixelCNN decoder and the discretized logistic mixture: causal, its one-pass
log p(x|z) is the sequential one of its own samples, sampling sees only what it must, and it plugs into
every model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import QUIET_TRAINER

from infovae_lightning.models import ELBOVAE, MMDVAE, AdversarialAE, SteinVAE
from infovae_lightning.nets import BernoulliLikelihood, DiscretizedLogisticMixture, PixelCNNDecoder, net_spec

NET = {
    "encoder": {"name": "conv", "channels": [16, 32], "fc": 64},
    "decoder": {"name": "pixelcnn", "layers": 3, "channels": 8, "kernel": 3},
}
# The same net as earlier versions' checkpoints stored it: flat, the decoder's keys prefixed.
FLAT_NET = {"name": "pixelcnn", "channels": [16, 32], "fc": 64, "pixel_layers": 3, "pixel_channels": 8}


def _pixelcnn(shape, layers=3, kernel=3, likelihood=None) -> PixelCNNDecoder:
    likelihood = likelihood or BernoulliLikelihood()
    return PixelCNNDecoder(
        shape, latent_dim=3, likelihood=likelihood, layers=layers, channels=8, kernel=kernel
    )


@pytest.mark.parametrize("kernel,channels", [(3, 1), (5, 1), (3, 3)])
def test_each_pixel_depends_only_on_the_pixels_before_it(kernel: int, channels: int) -> None:
    torch.manual_seed(0)
    height = width = 8
    likelihood = DiscretizedLogisticMixture((channels, height, width), 2) if channels > 1 else None
    decoder = _pixelcnn((channels, height, width), layers=4, kernel=kernel, likelihood=likelihood)
    x = torch.rand(1, channels, height, width).requires_grad_(True)
    z = torch.randn(1, 3, requires_grad=True)
    for i in range(height * width):
        x.grad, z.grad = None, None
        decoder.params(x, z)[0, :, i // width, i % width].sum().backward()
        grad = x.grad.abs().sum(1).flatten()  # over the channels: all of pixel i is predicted from x_<i
        assert torch.all(grad[i:] == 0), f"pixel {i} sees pixels at or after it"
        assert z.grad.abs().sum() > 0  # every pixel is conditioned on z
        if i % width:  # its left neighbour, and the pixel above: inside the receptive field
            assert grad[i - 1] != 0
        if i >= width:
            assert grad[i - width] != 0


def test_one_pass_log_prob_equals_the_sequential_one_of_its_samples() -> None:
    torch.manual_seed(1)
    decoder = _pixelcnn((1, 6, 6))
    z = torch.randn(4, 3)
    # Sample pixel by pixel, adding up log p(x_i | x_<i, z) of each drawn value as it is drawn.
    x, sequential = torch.zeros(4, 1, 6, 6), torch.zeros(4)
    with torch.no_grad():
        for i in range(36):
            logit = decoder.params(x, z)[:, 0, i // 6, i % 6]
            value = torch.bernoulli(torch.sigmoid(logit))
            x[:, 0, i // 6, i % 6] = value
            sequential += -F.binary_cross_entropy_with_logits(logit, value, reduction="none")
        one_pass = decoder.log_prob(x, z)
    torch.testing.assert_close(one_pass, sequential, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel,layers", [(3, 2), (5, 3)])
def test_sampling_over_the_visible_rows_draws_what_the_whole_image_would(kernel: int, layers: int) -> None:
    """`sample` runs each pixel's pass on the `context` rows it can see; with the same random numbers a
    pass over the whole image per pixel must draw the same images (12 rows: the crop starts below row 0)."""
    torch.manual_seed(3)
    shape = (3, 12, 5)
    decoder = _pixelcnn(shape, layers, kernel, DiscretizedLogisticMixture(shape, 3))
    assert decoder.context == layers * (kernel // 2) + 1 < 12
    z = torch.randn(4, 3)
    torch.manual_seed(4)
    cropped = decoder.sample(z)
    torch.manual_seed(4)
    whole = torch.zeros(4, *shape)
    with torch.no_grad():
        for row in range(12):
            for col in range(5):
                params = decoder.params(whole, z)[..., row : row + 1, col : col + 1]
                whole[..., row : row + 1, col : col + 1] = decoder.likelihood.sample(params)
    assert torch.equal(cropped, whole)
    assert torch.equal(cropped, torch.round(cropped * 255) / 255)  # 8-bit levels


def test_logistic_mixture_is_a_distribution_over_the_256_levels() -> None:
    """Summed over every value of a 1-pixel image, p is 1; with 2 channels, over all 256² pairs."""
    torch.manual_seed(5)
    levels = torch.arange(256.0) / 255
    one = DiscretizedLogisticMixture((1, 1, 1), components=3)
    params = torch.randn(1, *one.params_shape((1, 1, 1)))
    log_p = one.log_prob(levels.view(256, 1, 1, 1), params.expand(256, -1, -1, -1))
    torch.testing.assert_close(log_p.exp().sum(), torch.tensor(1.0), rtol=1e-4, atol=1e-4)
    two = DiscretizedLogisticMixture((2, 1, 1), components=3)
    params = torch.randn(1, *two.params_shape((2, 1, 1)))
    assert params.shape[1] == 3 * (1 + 2 * 2 + 1)  # logits, means, log-scales, one coefficient
    pairs = torch.cartesian_prod(levels, levels).view(-1, 2, 1, 1)
    log_p = two.log_prob(pairs, params.expand(len(pairs), -1, -1, -1))
    torch.testing.assert_close(log_p.exp().sum(), torch.tensor(1.0), rtol=1e-4, atol=1e-4)


def test_logistic_mixture_samples_follow_its_probabilities() -> None:
    """Draws of one pixel match p over the levels (total variation), and the mean matches the draws'."""
    torch.manual_seed(6)
    lik = DiscretizedLogisticMixture((1, 1, 1), components=2)
    params = torch.tensor([[2.0, -1.0, -0.5, 0.6, -2.5, -3.0]]).view(1, 6, 1, 1)
    draws = lik.sample(params.expand(20000, -1, -1, -1)).flatten()
    levels = torch.arange(256.0) / 255
    p = lik.log_prob(levels.view(256, 1, 1, 1), params.expand(256, -1, -1, -1)).exp()
    empirical = torch.bincount(torch.round(draws * 255).long(), minlength=256).float() / len(draws)
    assert 0.5 * (p - empirical).abs().sum() < 0.05
    assert abs(float(lik.mean(params)) - float(draws.mean())) < 0.01


@pytest.mark.parametrize("cls", [ELBOVAE, MMDVAE, SteinVAE, AdversarialAE])
def test_every_model_takes_the_pixelcnn_decoder(cls) -> None:
    model = cls(latent_dim=2, input_shape=[1, 28, 28], net=NET)
    assert isinstance(model.decoder, PixelCNNDecoder)
    x = torch.bernoulli(torch.full((3, 1, 28, 28), 0.3))
    terms = model.terms(x)
    terms.loss.backward()
    assert torch.isfinite(terms.loss) and model.decoder.layers[0].condition.weight.grad is not None


@pytest.mark.parametrize("net", [NET, {"name": "conv", "channels": [8, 16], "fc": 32}])
def test_colour_images_take_the_logistic_mixture(net) -> None:
    """8-bit CIFAR-shaped images: the mixture under the PixelCNN and under a factorized conv decoder."""
    torch.manual_seed(7)
    model = MMDVAE(
        latent_dim=2,
        input_shape=[3, 32, 32],
        net=net,
        likelihood={"name": "logistic_mixture", "components": 4},
    )
    assert model.decoder.likelihood.params_shape((3, 32, 32)) == (40, 32, 32)
    x = torch.randint(0, 256, (2, 3, 32, 32)) / 255
    terms = model.terms(x)
    terms.loss.backward()
    assert torch.isfinite(terms.loss)
    # A random network spreads p over the 256 levels: about 8 bits (5.5 nats) per sub-pixel.
    assert 3 < float(-terms.log_px.detach()) / (3 * 32 * 32) < 8


def test_the_flat_net_of_earlier_versions_builds_the_same_modules() -> None:
    """A checkpoint's flat `net=pixelcnn` spec is read as the nested one (a conv encoder and a PixelCNN
    decoder, the `pixel_` keys unprefixed; the kernel left out gets its default), so its weights' keys fit."""
    assert net_spec(FLAT_NET) == NET
    old, new = (ELBOVAE(latent_dim=2, input_shape=[1, 28, 28], net=net) for net in (FLAT_NET, NET))
    assert old.hparams.net == new.hparams.net == NET
    shapes = [{key: tuple(t.shape) for key, t in m.state_dict().items()} for m in (old, new)]
    assert shapes[0] == shapes[1]
    assert "decoder.layers.2.condition.weight" in shapes[0] and "encoder.net.layers.5.weight" in shapes[0]
    new.load_state_dict(old.state_dict())


def test_pixelcnn_refuses_a_continuous_likelihood() -> None:
    with pytest.raises(ValueError, match="pixelcnn decoder models discrete pixels"):
        ELBOVAE(latent_dim=2, input_shape=[1, 28, 28], net=NET, likelihood={"name": "gaussian"})


def test_trains_on_binarized_mnist_and_its_nll_falls(binarized_root) -> None:
    """A small PixelCNN ELBO through Lightning's fit on the real data: the importance-sampled NLL of held-out
    test images falls from hundreds of nats (untrained) to less than half (about 130 nats after 60 steps)."""
    import lightning as L

    from infovae_lightning.data import InfoVAEDataModule
    from infovae_lightning.metrics.nll import importance_sampled_log_likelihood

    torch.manual_seed(9)
    data = InfoVAEDataModule(
        "binarized_mnist", root=str(binarized_root), batch_size=50, train_size=2000, test_size=100
    )
    data.setup("test")
    x = data.examples("test").x
    model = ELBOVAE(latent_dim=2, input_shape=[1, 28, 28], net=NET, lr=1e-2)

    def nll() -> float:
        with torch.no_grad():
            log_px = importance_sampled_log_likelihood(model.encoder, model.decoder.log_prob, x, 5)
        return -float(log_px.mean())

    before = nll()
    trainer = L.Trainer(
        max_steps=60,
        limit_val_batches=0,
        **QUIET_TRAINER,
    )
    trainer.fit(model, datamodule=data)
    after = nll()
    assert before > 400 and after < 0.5 * before, (before, after)
