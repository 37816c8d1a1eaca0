"""`nll_is`: the negative log-likelihood −log p(x), in nats per example, by importance sampling.

    log p(x) ≈ log (1/K) Σₖ p(x|zₖ) p(zₖ) / q(zₖ|x),   zₖ ~ q(z|x)       (Burda et al. 2016)

The encoder is the proposal. The estimate is a stochastic lower bound on log p(x) that tightens as K grows
(K = 1 gives the ELBO), so a larger K reports a lower, more accurate NLL; the paper's tables use K = 5000.
The encoder runs once per chunk of examples; the (example, sample) pairs go through the decoder in calls of
`max_pairs` (small on a CPU, whose caches then hold a call's activations; large on a GPU). The K log-weights
of an example are combined by one log-sum-exp in float64, because with K = 5000 and log-weights around
−100 nats the float32 sum of exponentials loses the digits that matter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import Tensor

from infovae_lightning.metrics.evaluation import Evaluation, EvaluationError, Metric
from infovae_lightning.nets.encoder import Posterior
from infovae_lightning.protocols import encode, is_deterministic

MAX_SAMPLES = 5000
# (example, sample) pairs decoded at once when not given. A CPU is fastest with a chunk whose activations stay
# in its caches, a GPU with chunks large enough to fill it (the earlier default for every device; a PixelCNN
# decoder may need fewer to fit: `metrics.nll_is.max_pairs`). Measured: docs/benchmarks.md, section 4.
DEFAULT_PAIRS = {"cpu": 4096, "cuda": 50_000}


def default_max_pairs(device: torch.device) -> int:
    """How many (example, sample) pairs `importance_sampled_log_likelihood` decodes at once on `device`."""
    return DEFAULT_PAIRS.get(device.type, DEFAULT_PAIRS["cuda"])


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I), summed over the last dimension."""
    return -0.5 * (z.square() + math.log(2 * math.pi)).sum(-1)


def importance_sampled_log_likelihood(
    encoder: Callable[[Tensor], Posterior],
    log_px_given_z: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    num_samples: int,
    max_pairs: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """log p(x) per example of `x` [B, ...], float64 [B], from `num_samples` draws of q(z|x) each.

    `log_px_given_z(x, z)` takes matching batches ([M, ...], [M, d]) and returns [M]. The encoder runs once;
    at most `max_pairs` (example, sample) pairs are decoded at once (default: `default_max_pairs`), which
    bounds memory whatever B and K are. All K·B draws come from `generator` first, so the estimate does not
    depend on `max_pairs`.
    """
    q = encoder(x)
    if q.std is None:
        raise EvaluationError(
            "nll_is needs a stochastic encoder q(z|x): a deterministic (point-mass) encoder has no "
            "density to importance-sample with; train with model.deterministic=false"
        )
    batch = x.shape[0]
    max_pairs = default_max_pairs(x.device) if max_pairs is None else max_pairs
    per_call = max(1, min(num_samples, max_pairs // batch))  # samples decoded per call, for all B examples
    eps = torch.randn((num_samples, *q.mean.shape), generator=generator, device=x.device, dtype=q.mean.dtype)
    log_w = torch.empty((num_samples, batch), dtype=torch.float64, device=x.device)  # [K, B]
    x_rep = x.unsqueeze(0).expand(per_call, *x.shape).reshape(per_call * batch, *x.shape[1:])
    for start in range(0, num_samples, per_call):
        k = min(per_call, num_samples - start)
        z = q.mean + q.std * eps[start : start + k]  # [k, B, d]
        log_px = log_px_given_z(x_rep[: k * batch], z.reshape(k * batch, -1)).view(k, batch)
        log_prior = standard_normal_log_prob(z.double())
        log_w[start : start + k] = log_px.double() + log_prior - q.log_prob(z).double()
    return torch.logsumexp(log_w, dim=0) - math.log(num_samples)


class ImportanceSampledNLL(Metric):
    """Logs `nll_is`, the mean over the evaluation set of −log p(x) with K = `num_samples` (≤ 5000), in nats,
    and, on discrete data, `nll_is_bpd`: the same in bits per dimension of the discrete pixels.

    Costs K decoder passes per example: by default it runs at test only (`every_n_val_epochs: null`).
    `max_pairs` sets how many (example, sample) pairs are decoded at once (memory vs speed; null: a default
    for the device, `default_max_pairs`).
    """

    name = "nll_is"

    def __init__(
        self,
        num_samples: int = 1000,
        max_pairs: int | None = None,
        every_n_val_epochs: int | None = None,
        chunk_size: int = 100,
        **kwargs,
    ) -> None:
        super().__init__(every_n_val_epochs=every_n_val_epochs, chunk_size=chunk_size, **kwargs)
        if not 1 <= num_samples <= MAX_SAMPLES:
            raise ValueError(f"nll_is: num_samples must be in [1, {MAX_SAMPLES}], got {num_samples}")
        if max_pairs is not None and max_pairs < 1:
            raise ValueError(f"nll_is: max_pairs must be >= 1, got {max_pairs}")
        self.num_samples = num_samples
        self.max_pairs = max_pairs

    def check(self, model: L.LightningModule, datamodule: Any) -> None:
        if is_deterministic(model):
            raise EvaluationError(
                "nll_is needs a stochastic encoder q(z|x), but this model's is deterministic "
                "(model.deterministic=true): its importance weights are undefined. Drop the nll_is metric "
                "or train with model.deterministic=false"
            )

    def evaluate(self, evaluation: Evaluation) -> dict[str, float]:
        model = evaluation.model

        def nll(rows: slice, generator: torch.Generator) -> Tensor:
            log_px = importance_sampled_log_likelihood(
                lambda x: encode(model, x),
                model.decoder.log_prob,
                evaluation.x(rows),
                self.num_samples,
                self.max_pairs,
                generator,
            )
            return -log_px

        per_example = evaluation.map(nll, (), dtype=torch.float64)
        values = {self.name: per_example.mean().item()}
        bits = model.bits_per_dim(per_example.mean()) if hasattr(model, "bits_per_dim") else None
        if bits is not None:  # discrete data: also −log₂ P(x) per dimension
            values[f"{self.name}_bpd"] = float(bits)
        return values
