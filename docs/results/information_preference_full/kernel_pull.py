"""How hard each MMD kernel pulls the encoder, against the reconstruction (docs/results.md, "Information
preference").

For each checkpoint (and for the same model freshly initialised, `--init`), over `--batches` batches of 100
binarized MNIST training images: the encoder's gradient from −E log p(x|z) (+ (1 − α) KL) and from
(α + λ − 1)·MMD(z, prior samples) for the authors' Gaussian kernel at λ = 1000 and the IMQ kernel at λ = 200,
both evaluated on the same z. Printed per part: the norm of the mean gradient, the mean norm per batch and
signal/noise = |mean g| / sqrt(E |g − mean g|²). Adam divides each parameter's step by the root of its mean
squared gradient, so a part whose batch norm is large sets that scale, and a part with a small share of it
moves the encoder slowly; whether the arms escape the prior is measured in the runs, not here.

    python docs/results/information_preference_full/kernel_pull.py --root ../shared/data --init \
        <run>/checkpoints/last.ckpt ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the checkout's package, without an install
sys.path.insert(0, str(HERE.parent / "stein_preset"))
from gradient_noise import gradient_stats  # noqa: E402

from infovae_lightning.data import binarized_mnist  # noqa: E402
from infovae_lightning.divergences import MMD  # noqa: E402
from infovae_lightning.run.checkpoints import load_model  # noqa: E402

ARMS = {"gaussian, λ = 1000": (MMD(kernel="gaussian"), 1000.0), "imq, λ = 200": (MMD(kernel="imq"), 200.0)}


def gradient_parts(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The encoder's gradient (flattened) from the reconstruction part and from each arm's weighted MMD."""
    encoder = list(model.encoder.parameters())
    q = model.encoder(x)
    z = q.rsample()
    prior = torch.randn_like(z)
    alpha = model.hparams.alpha
    terms = {"recon+kl": -model.decoder.log_prob(x, z).mean() + (1 - alpha) * q.kl_to_prior().mean()}
    for name, (mmd, lam) in ARMS.items():
        terms[name] = (alpha + lam - 1) * mmd(z, prior)
    return {
        name: torch.cat([g.reshape(-1) for g in torch.autograd.grad(t, encoder, retain_graph=True)])
        for name, t in terms.items()
    }


def measure(model: torch.nn.Module, images: torch.Tensor, batches: int) -> dict:
    grads: dict[str, list[torch.Tensor]] = {}
    for _ in range(batches):
        for name, g in gradient_parts(model, images[torch.randint(0, len(images), (100,))]).items():
            grads.setdefault(name, []).append(g)
    return {name: gradient_stats(gs) for name, gs in grads.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--batches", type=int, default=32)
    parser.add_argument(
        "--init", action="store_true", help="also the first checkpoint's model re-initialised"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    images, _ = binarized_mnist.load(args.root, "train")
    models = [(str(path), load_model(path)) for path in args.checkpoints]
    if args.init:
        torch.manual_seed(args.seed)
        first = models[0][1]
        models.insert(0, (f"initialised (seed {args.seed})", type(first)(**first.hparams)))
    for name, model in models:
        torch.manual_seed(args.seed)
        print(
            json.dumps({"model": name, **measure(model, images, args.batches)}, ensure_ascii=False),
            flush=True,
        )


if __name__ == "__main__":
    main()
