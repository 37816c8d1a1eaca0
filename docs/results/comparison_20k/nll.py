"""Importance-sampled −log p(x) of the comparison's final checkpoints on binarized MNIST's test images.

One row per job: model, α, λ, the MMD kernel (MMD-VAE only), latent, seed, `nll_is` (nats, mean over the
first `--examples` test images of the data module's fixed mixed order), and the ELBO's bound
−(E log p(x|z) − KL) on the same images.
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
FIELDS = ["model", "alpha", "lam", "kernel", "latent", "seed", "batches", "examples", "samples"]
FIELDS += ["nll_is", "neg_elbo", "checkpoint"]


def evaluate(model: torch.nn.Module, x: torch.Tensor, samples: int) -> tuple[float, float]:
    """Mean −log p(x) by importance sampling with K = `samples`, and mean −ELBO, over `x`."""
    from infovae_lightning.metrics.nll import importance_sampled_log_likelihood
    from infovae_lightning.protocols import encode

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
    sys.path.insert(0, str(HERE.parent))
    from make_tables import model_of
    from sweep_points import completed_jobs

    from infovae_lightning.data import InfoVAEDataModule
    from infovae_lightning.run.checkpoints import load_model, read_checkpoint

    dm = InfoVAEDataModule("binarized_mnist", root=args.root, batch_size=args.examples, download=False)
    dm.setup("test")
    x, _ = next(iter(dm.test_dataloader()))
    out = HERE / "nll.csv"
    new = not out.is_file()
    with out.open("a", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        if new:
            writer.writeheader()
        for job in completed_jobs(args.sweeps):
            path = job.path / "checkpoints" / "last.ckpt"
            spec = job.config["model"]
            if not path.is_file() or spec.get("deterministic"):  # no density to importance-sample with
                print(f"skipped {job.path} (no last.ckpt, or a deterministic encoder)", file=sys.stderr)
                continue
            torch.manual_seed(0)
            model = load_model(path).eval()
            nll, neg_elbo = evaluate(model, x, args.samples)
            batches = read_checkpoint(path).global_step // model.optimizer_steps_per_batch()
            row = dict(model=model_of(job.config), alpha=spec["alpha"], lam=spec["lam"])
            row |= dict(kernel=model.hparams.get("kernel", ""))  # the MMD's kernel; other models have none
            row |= dict(latent=job.config["latent_dim"], seed=job.config["seed"], batches=batches)
            row |= dict(examples=len(x), samples=args.samples)
            row |= dict(nll_is=f"{nll:.3f}", neg_elbo=f"{neg_elbo:.3f}")
            writer.writerow(row | {"checkpoint": f"{job.path.parent.name}/{job.path.name}"})
            f.flush()
            print(row, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
