"""The paper's toy problem (Section 3.1, Figure 1) from a trained job's checkpoint.

The data are the two points x = -1 and x = +1, equally often (`data/toy.py`). Proposition 1 says the ELBO
pushes q(z|x=-1) and q(z|x=+1) apart, away from the prior, and lets the decoder ignore z when it can, while
InfoVAE keeps the aggregate posterior q(z) = ½ q(z|x=-1) + ½ q(z|x=+1) close to p(z) = N(0, 1) with z
informative about x. What the figure shows is computed here: samples of z from each posterior and from the
prior, samples of x ~ p(x|z) for each, and Var q(z), exactly (the encoder is Gaussian).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from infovae_lightning.report.collect import Job
from infovae_lightning.run.checkpoints import load_model

TOY_POINTS = (-1.0, 1.0)


@dataclass
class ToyAnalysis:
    """Samples for the two panels of Figure 1 and the aggregate posterior's variance (mean over latents)."""

    z_given_x: dict[float, np.ndarray]  # x -> z ~ q(z|x), first latent coordinate
    z_prior: np.ndarray  # z ~ p(z), first coordinate
    x_from_posterior: dict[float, np.ndarray]  # x' -> x ~ p(x|z), z ~ q(z|x')
    x_from_prior: np.ndarray  # x ~ p(x|z), z ~ p(z)
    var_qz: float


def is_toy(job: Job) -> bool:
    return job.data_name == "toy"


@torch.no_grad()
def analyse(checkpoint: Path, samples: int = 5000, seed: int = 0) -> ToyAnalysis:
    """Loads `checkpoint` on the CPU and draws `samples` of each distribution with its own generator, so a
    report is the same every time it is made and leaves the global random state alone."""
    model = load_model(checkpoint).eval()
    with torch.random.fork_rng(devices=[]):  # decoder.sample draws from the global generator
        torch.manual_seed(seed)
        points = torch.tensor(TOY_POINTS, dtype=torch.float32).unsqueeze(1)  # [2, 1]: the data's shape
        q = model.encoder(points)
        mean = q.mean.double()
        var = torch.zeros_like(mean) if q.std is None else q.std.double() ** 2
        # Var of the mixture ½ q(z|-1) + ½ q(z|+1): E[var] + Var[mean] (law of total variance), per latent.
        var_qz = (var.mean(0) + mean.pow(2).mean(0) - mean.mean(0).pow(2)).mean().item()

        def posterior_samples(i: int) -> torch.Tensor:
            noise = torch.randn(samples, mean.shape[1])
            std = torch.zeros_like(q.mean[i]) if q.std is None else q.std[i]
            return q.mean[i] + std * noise

        z_given_x = {x: posterior_samples(i) for i, x in enumerate(TOY_POINTS)}
        z_prior = model.sample_prior(samples).cpu()
        x_from_posterior = {x: model.decoder.sample(z)[:, 0].numpy() for x, z in z_given_x.items()}
        x_from_prior = model.decoder.sample(z_prior)[:, 0].numpy()
    return ToyAnalysis(
        z_given_x={x: z[:, 0].numpy() for x, z in z_given_x.items()},
        z_prior=z_prior[:, 0].numpy(),
        x_from_posterior=x_from_posterior,
        x_from_prior=x_from_prior,
        var_qz=var_qz,
    )
