"""Importance-sampled −log p(x) of the comparison's final checkpoints on binarized MNIST's test images.

One row per job: model, α, λ, latent, seed, `nll_is` (nats, mean over the first `--examples` test images
of the data module's fixed mixed order), and the ELBO's bound −(E log p(x|z) − KL) on the same images.
Deterministic encoders are skipped: they have no density to importance-sample with.
The runs were validated on the valid split only; this is their only test-split number. Results append to
`nll.csv` here (committed), one line per job, so the script can be run in parts:

    python docs/results/comparison_20k/nll.py --root ../shared/data /work/exp/<sweep> ... [--samples 1000]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
MODELS = {"ELBOVAE": "ELBO", "AdversarialAE": "AAE", "SteinVAE": "Stein-VAE", "MMDVAE": "MMD-VAE"}
FIELDS = ["model", "alpha", "lam", "latent", "seed", "batches", "examples", "samples", "nll_is", "neg_elbo"]
FIELDS += ["checkpoint"]


def batches(ckpt: Path) -> int:
    """Training batches behind a checkpoint: its global step over the model's optimizer steps a batch."""
    from infovae_lightning.run.checkpoints import load_model, read_checkpoint

    return read_checkpoint(ckpt).global_step // load_model(ckpt).optimizer_steps_per_batch()


def evaluate(ckpt: Path, x: torch.Tensor, samples: int) -> tuple[float, float]:
    from infovae_lightning.metrics.nll import importance_sampled_log_likelihood
    from infovae_lightning.protocols import encode
    from infovae_lightning.run.checkpoints import load_model

    model = load_model(ckpt).eval()
    generator = torch.Generator().manual_seed(0)
    nll, neg_elbo = [], []
    with torch.no_grad():
        for chunk in x.split(100):
            log_px = importance_sampled_log_likelihood(
                lambda v: encode(model, v), model.decoder.log_prob, chunk, samples, None, generator
            )
            nll.append(-log_px)
            q = encode(model, chunk)
            neg_elbo.append(-model.decoder.log_prob(chunk, q.rsample()) + q.kl_to_prior())
    return torch.cat(nll).mean().item(), torch.cat(neg_elbo).mean().item()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", type=Path)
    parser.add_argument("--root", type=Path, required=True, help="the data root (holding binarized_mnist/)")
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000, help="K, importance samples per image")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parents[2]))
    from infovae_lightning.data import InfoVAEDataModule
    from infovae_lightning.report.collect import read_sweep

    dm = InfoVAEDataModule("binarized_mnist", root=args.root, batch_size=args.examples, download=False)
    dm.setup("test")
    x, _ = next(iter(dm.test_dataloader()))
    out = HERE / "nll.csv"
    new = not out.is_file()
    with out.open("a", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        if new:
            writer.writeheader()
        for sweep in args.sweeps:
            for job in read_sweep(sweep):
                ckpt = job.path / "checkpoints" / "last.ckpt"
                if not job.completed or not ckpt.is_file() or job.config["model"].get("deterministic"):
                    print(f"skipped {job.path} ({job.status})", file=sys.stderr)
                    continue
                torch.manual_seed(0)
                nll, neg_elbo = evaluate(ckpt, x, args.samples)
                model = MODELS[job.config["model"]["_target_"].rpartition(".")[2]]
                spec = job.config["model"]
                row = dict(model=model, alpha=spec["alpha"], lam=spec["lam"], latent=job.config["latent_dim"])
                row |= dict(seed=job.config["seed"], batches=batches(ckpt))
                row |= dict(examples=len(x), samples=args.samples)
                row |= dict(nll_is=f"{nll:.3f}", neg_elbo=f"{neg_elbo:.3f}")
                writer.writerow(row | {"checkpoint": f"{sweep.name}/{job.path.name}"})
                f.flush()
                print(row, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
