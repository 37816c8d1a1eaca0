"""The conditional gated PixelCNN decoder: causal, its one-pass log p(x|z) is the sequential one of its own
samples, and it plugs into every model."""

from __future__ import annotations

import pytest
import torch

from infovae_lightning.models import ELBOVAE, MMDVAE, AdversarialAE, SteinVAE
from infovae_lightning.nets import PixelCNNDecoder

NET = {
    "name": "pixelcnn",
    "channels": [16, 32],
    "fc": 64,
    "pixel_layers": 3,
    "pixel_channels": 8,
    "pixel_kernel": 3,
}


@pytest.mark.parametrize("kernel", [3, 5])
def test_each_pixel_depends_only_on_the_pixels_before_it(kernel: int) -> None:
    torch.manual_seed(0)
    height = width = 8
    decoder = PixelCNNDecoder((1, height, width), latent_dim=3, layers=4, channels=8, kernel=kernel)
    x = torch.bernoulli(torch.full((1, 1, height, width), 0.5)).requires_grad_(True)
    z = torch.randn(1, 3, requires_grad=True)
    for i in range(height * width):
        x.grad, z.grad = None, None
        decoder.logits(x, z)[0, 0, i // width, i % width].backward()
        grad = x.grad.flatten()
        assert torch.all(grad[i:] == 0), f"pixel {i} sees pixels at or after it"
        assert z.grad.abs().sum() > 0  # every pixel is conditioned on z
        if i % width:  # its left neighbour, and the pixel above: inside the receptive field
            assert grad[i - 1] != 0
        if i >= width:
            assert grad[i - width] != 0


def test_one_pass_log_prob_equals_the_sequential_one_of_its_samples() -> None:
    torch.manual_seed(1)
    decoder = PixelCNNDecoder((1, 6, 6), latent_dim=2, layers=3, channels=8, kernel=3)
    z = torch.randn(4, 2)
    # Sample pixel by pixel, adding up log p(x_i | x_<i, z) of each drawn value as it is drawn.
    x, sequential = torch.zeros(4, 1, 6, 6), torch.zeros(4)
    with torch.no_grad():
        for i in range(36):
            logit = decoder.logits(x, z)[:, 0, i // 6, i % 6]
            value = torch.bernoulli(torch.sigmoid(logit))
            x[:, 0, i // 6, i % 6] = value
            sequential += -torch.nn.functional.binary_cross_entropy_with_logits(
                logit, value, reduction="none"
            )
        one_pass = decoder.log_prob(x, z)
    torch.testing.assert_close(one_pass, sequential, rtol=1e-5, atol=1e-5)
    # And `sample` draws the same images from the same generator state.
    torch.manual_seed(2)
    a = decoder.sample(z)
    torch.manual_seed(2)
    assert torch.equal(a, decoder.sample(z)) and set(a.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("cls", [ELBOVAE, MMDVAE, SteinVAE, AdversarialAE])
def test_every_model_takes_the_pixelcnn_decoder(cls) -> None:
    model = cls(latent_dim=2, input_shape=[1, 28, 28], net=NET)
    assert isinstance(model.decoder, PixelCNNDecoder)
    x = torch.bernoulli(torch.full((3, 1, 28, 28), 0.3))
    terms = model.terms(x)
    terms.loss.backward()
    assert torch.isfinite(terms.loss) and model.decoder.layers[0].condition.weight.grad is not None


def test_pixelcnn_refuses_non_binary_data() -> None:
    with pytest.raises(ValueError, match="pixelcnn decoder models binary images"):
        ELBOVAE(latent_dim=2, input_shape=[1, 28, 28], net=NET, likelihood={"name": "gaussian"})
