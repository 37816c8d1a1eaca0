"""What the batch MMD does to one far code, by kernel: why the Gaussian kernel lets the 1s escape, and which λ
gives the IMQ kernel the Gaussian's gradient noise.

A batch of n = 100 codes from p(z) = N(0, I_d) against n prior samples (the training loss's MMD, biased
estimator, `infovae_lightning.divergences.MMD`). Printed per kernel, over `--batches` random batches:
- the batch MMD's mean and std when q(z) = p(z) (all of it is noise: the population MMD is 0);
- the mean norm of its gradient on one code, the noise that λ scales into the encoder's gradient;
- the expected radial pull on one code at radius r when the rest of the batch is from p(z): its gradient's
  component along z (positive: the loss falls as the code comes in). The code's repulsion from the other n − 1
  codes and its attraction to the n prior samples cancel but for (2/n²)·E_z~p ∂k(z₀, z)/∂r, so the pull is
  that, computed from 200,000 prior draws (a batch average would drown it in the noise above).

    python docs/results/mnist_limited_20k/kernel_pull.py [--latent 2] [--batches 200]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from infovae_lightning.divergences import MMD
from infovae_lightning.divergences.mmd import KERNELS, squared_distances

RADII = (2.0, 4.0, 6.0, 8.0, 16.0)
N = 100


def measure(kernel: str, latent: int, batches: int, generator: torch.Generator) -> dict[str, float]:
    mmd = MMD(kernel=kernel)
    values, noise = [], []
    for _ in range(batches):
        z = torch.randn(N, latent, generator=generator).requires_grad_(True)
        value = mmd(z, torch.randn(N, latent, generator=generator))
        (grad,) = torch.autograd.grad(value, z)
        values.append(value.item())
        noise.append(grad.norm(dim=1).mean().item())
    out = {"mean": statistics.fmean(values), "std": statistics.stdev(values)}
    out["noise"] = statistics.fmean(noise)
    prior = torch.randn(200_000, latent, generator=generator)
    for r in RADII:
        z0 = torch.zeros(1, latent)
        z0[0, 0] = r
        z0.requires_grad_(True)
        slope = KERNELS[kernel](squared_distances(z0, prior), latent).mean()
        (grad,) = torch.autograd.grad(slope, z0)
        out[f"pull r={r:g}"] = -2.0 / N**2 * grad[0, 0].item()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latent", type=int, default=2)
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    rows = {k: measure(k, args.latent, args.batches, generator) for k in ("gaussian", "imq")}
    head = ["kernel", "batch MMD at p(z)", "gradient norm a code", *(f"pull at r = {r:g}" for r in RADII)]
    print("| " + " | ".join(head) + " |\n|" + " --- |" * len(head))
    for kernel, m in rows.items():
        pulls = " | ".join(f"{m[f'pull r={r:g}']:.1e}" for r in RADII)
        print(f"| {kernel} | {m['mean']:.4f} ± {m['std']:.4f} | {m['noise']:.1e} | {pulls} |")
    ratio = rows["imq"]["noise"] / rows["gaussian"]["noise"]
    print(f"\nIMQ's gradient noise a code is {ratio:.1f} times the Gaussian's: λ = 1000 with the Gaussian")
    print(f"kernel is matched by λ ≈ {1000 / ratio:.0f} with the IMQ kernel.")


if __name__ == "__main__":
    main()
