"""How many held-out codes lie far outside p(z): the mechanism behind MMD-VAE's large logdet Cov[q(z)].

For each completed job, the means E[z|x] of its validation images (the split the tables use) from the last
checkpoint: the share with ‖E[z|x]‖ > 4 (p(z) = N(0, I₂) puts e⁻⁸ ≈ 0.03% of its mass there), the largest
norm, and the digit class most of the far codes belong to. A Gaussian kernel exp(−‖z − z'‖²/d²) is ≈ 0 a few
units away, so an MMD with it neither sees how far such codes went nor pulls them back:

    python docs/results/mnist_limited_20k/far_codes.py --root ../shared/data /work/exp/<sweep> ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
RADIUS = 4.0


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", type=Path)
    parser.add_argument("--root", type=Path, required=True, help="the data root (holding MNIST's test file)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))
    from sweep_points import completed_jobs, datamodule_of

    from infovae_lightning.protocols import encode
    from infovae_lightning.run.checkpoints import load_model

    print("| model | kernel | train images | seed | far share | max ‖E[z\\|x]‖ | far codes' main class |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for job in completed_jobs(args.sweeps):
        dm = datamodule_of(job.config, args.root)
        x, y = (torch.cat(t) for t in zip(*dm.val_dataloader(), strict=True))
        model = load_model(job.path / "checkpoints" / "last.ckpt").eval()
        with torch.no_grad():
            norm = encode(model, x).mean.norm(dim=1)
        far = norm > RADIUS
        main_class = "—"
        if far.any() and (y >= 0).all():  # Larochelle's binarized MNIST has no labels (−1)
            counts = torch.bincount(y[far], minlength=10)
            main_class = f"{counts.argmax().item()} ({counts.max().item()} of {far.sum().item()})"
        spec, size, seed = job.config["model"], job.config["data"]["train_size"], job.config["seed"]
        name, kernel = spec["_target_"].rpartition(".")[2], spec.get("kernel", "—")
        share, largest = far.float().mean().item(), norm.max().item()
        size = f"{size:,}" if size else "all"
        cells = [name, kernel, size, str(seed), f"{share:.3f}", f"{largest:.1f}", main_class]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
