"""The Stein-VAE preset's measurements (docs/results.md, "The Stein-VAE preset").

`train`: trains MMD-VAE or Stein-VAE (binarized MNIST, MLP 3 x 200, latent 5, batch 100, Adam 1e-3) and at
steps 0, 100, 500, 1000, 2000 prints, over 32 batches, the encoder's gradient from the reconstruction (+ KL)
part and from the weighted divergence: the norm of its mean, its mean norm a batch and signal/noise =
|mean g| / sqrt(E |g - mean g|^2); and the active units and the mean σ of q(z|x) on 2,000 images.
`radial`: the radial component of the SVGD direction for z ~ N(0, s² I_d), n = 100 (positive: inwards),
d = `--latent` (5 by default).

    python docs/results/stein_preset/gradient_noise.py train stein --alpha 1 --lam 1000 --root ../shared/data
    python docs/results/stein_preset/gradient_noise.py radial [--latent 10]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from infovae_lightning.data import binarized_mnist
from infovae_lightning.divergences.stein import svgd_direction
from infovae_lightning.models import MMDVAE, SteinVAE

MEASURED_AT = (0, 100, 500, 1000, 2000)


def gradient_parts(model: MMDVAE | SteinVAE, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The encoder's gradient (flattened) from −E log p(x|z) + (1 − α) KL and from (α + λ − 1) D."""
    encoder = list(model.encoder.parameters())
    q = model.encoder(x)
    z = q.rsample()
    recon = -model.decoder.log_prob(x, z).mean() + model.objective.kl_weight * q.kl_to_prior().mean()
    div = model.objective.div_weight * model.divergence(z).value
    flat = [
        torch.cat([g.reshape(-1) for g in torch.autograd.grad(t, encoder, retain_graph=True)])
        for t in (recon, div)
    ]
    return {"recon+kl": flat[0], "div": flat[1]}


def gradient_stats(grads: list[torch.Tensor]) -> dict[str, float]:
    """Of one part's flattened gradients over batches: signal/noise = |mean g| / sqrt(E |g − mean g|²), the
    norm of the mean and the mean norm per batch."""
    g = torch.stack(grads)
    mean = g.mean(0)
    noise = (g - mean).square().sum(1).mean().sqrt()
    return {
        "snr": round((mean.norm() / noise).item(), 3),
        "mean_norm": round(mean.norm().item(), 3),
        "batch_norm": round(g.norm(dim=1).mean().item(), 3),
    }


def measure(model: MMDVAE | SteinVAE, images: torch.Tensor, step: int, batches: int = 32) -> dict:
    grads: dict[str, list[torch.Tensor]] = {"recon+kl": [], "div": []}
    for _ in range(batches):
        for key, g in gradient_parts(model, images[torch.randint(0, len(images), (100,))]).items():
            grads[key].append(g)
    out: dict = {"step": step} | {key: gradient_stats(gs) for key, gs in grads.items()}
    with torch.no_grad():
        q = model.encoder(images[:2000])
        out["active_units"] = int((q.mean.var(0) > 0.01).sum())
        out["mean_std"] = round(q.std.mean().item(), 3)
    return out


def train(kind: str, alpha: float, lam: float, root: Path, seed: int) -> None:
    torch.manual_seed(seed)
    model = (SteinVAE if kind == "stein" else MMDVAE)(alpha=alpha, lam=lam, latent_dim=5)
    images, _ = binarized_mnist.load(root, "train")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(max(MEASURED_AT) + 1):
        if step in MEASURED_AT:
            print(json.dumps(measure(model, images, step)), flush=True)
        loss = model.eager_terms(images[torch.randint(0, len(images), (100,))]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def radial(latent: int = 5, batches: int = 200) -> None:
    torch.manual_seed(0)
    for scale in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0):
        inward = []
        for _ in range(batches):
            z = torch.randn(100, latent) * scale
            inward.append(((svgd_direction(z) * -z).sum(1) / z.norm(dim=1)).mean())
        own = (scale * torch.randn(10000, latent)).norm(dim=1).mean() / 100
        print(f"scale {scale}: radial phi* {torch.stack(inward).mean():+.4f} (own term |z|/n {own:.4f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["train", "radial"])
    parser.add_argument("model", nargs="?", choices=["stein", "mmd"], default="stein")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--lam", type=float, default=1000.0)
    parser.add_argument("--root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latent", type=int, default=5, help="radial: the dimension of z")
    args = parser.parse_args()
    if args.what == "train":
        train(args.model, args.alpha, args.lam, args.root, args.seed)
    else:
        radial(args.latent)
