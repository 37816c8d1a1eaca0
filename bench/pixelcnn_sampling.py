"""Speed of the conditional PixelCNN decoder (`net=pixelcnn`) at its default size: sampling and training.

    .venv/bin/python bench/pixelcnn_sampling.py                 # batches of 1, 16 and 64 images (CPU: ~2 min)
    python bench/pixelcnn_sampling.py --device cuda --batches 1 64 256 1024 --log-prob-batches 100 10000

Sampling is 784 sequential passes for a 28×28 image, batched over the images. Each pass runs on the rows the
pixel can see (`PixelCNNDecoder.context` rows above it); the baseline, in the same run, passes over the
whole image for every pixel (the textbook loop). Prints images/s for both and their ratio, then the time of
log p(x|z) in one pass (what the loss and the importance-sampled NLL compute) for batches of
`--log-prob-batches` images, and one training step of the whole model (conv encoder + PixelCNN decoder,
ELBO) at batch 100. The weights are
untrained: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import time

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from infovae_lightning.models import ELBOVAE
from infovae_lightning.run.train import CONFIG_DIR


def default_net() -> dict:
    """conf/net/pixelcnn.yaml as `net=pixelcnn` composes it."""
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["net=pixelcnn", "data=binarized_mnist"])
    return OmegaConf.to_container(cfg.net, resolve=True)


def timed(fn, device: str, repeat: int = 1) -> float:
    fn()  # warm-up (allocator, cuDNN choice)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--latent-dim", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--log-prob-batches", type=int, nargs="+", default=[100])
    args = parser.parse_args()
    torch.manual_seed(0)
    net = default_net()
    model = ELBOVAE(latent_dim=args.latent_dim, input_shape=[1, 28, 28], net=net).to(args.device)
    decoder = model.decoder
    print(f"device {args.device}, threads {torch.get_num_threads()}, net {net}")
    print(f"context rows per pass: {decoder.context} of 28")

    print("| images per batch | images/s (visible rows) | images/s (whole image) | ratio |")
    print("| ---: | ---: | ---: | ---: |")
    context = decoder.context
    for n in args.batches:
        z = torch.randn(n, args.latent_dim, device=args.device)
        cropped = timed(lambda z=z: decoder.sample(z), args.device)
        decoder.context = 28  # the baseline: every pass over the whole image
        whole = timed(lambda z=z: decoder.sample(z), args.device)
        decoder.context = context
        print(f"| {n} | {n / cropped:.2f} | {n / whole:.2f} | {whole / cropped:.2f} |", flush=True)

    x = torch.bernoulli(torch.full((100, 1, 28, 28), 0.13, device=args.device))
    z = torch.randn(100, args.latent_dim, device=args.device)
    for n in args.log_prob_batches:  # the importance-sampled NLL decodes many (example, sample) pairs at once
        xs = torch.bernoulli(torch.full((n, 1, 28, 28), 0.13, device=args.device))
        zs = torch.randn(n, args.latent_dim, device=args.device)
        with torch.no_grad():
            seconds = timed(lambda xs=xs, zs=zs: decoder.log_prob(xs, zs), args.device, repeat=5)
        print(f"log p(x|z), batch {n}: {seconds * 1e3:.1f} ms ({n / seconds:.0f} images/s)", flush=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad()
        model.terms(x).loss.backward()
        optimizer.step()

    train = timed(step, args.device, repeat=5)
    print(f"training step, batch 100: {train:.3f} s ({100 / train:.0f} images/s)")


if __name__ == "__main__":
    main()
