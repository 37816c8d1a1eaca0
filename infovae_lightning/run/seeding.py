"""Randomness as a function of position, so that a resumed run draws exactly what an uninterrupted one would.

Lightning restores weights, optimizer and loop counters from a checkpoint but not random number generators,
and a resumed process reaches each training step with a different RNG history (no sanity check, fresh data
loaders). So every stream of training noise is seeded from where it is used instead of from what came before:

- the order of examples in epoch e: `(seed, e)` (`data.shuffle.EpochShuffle`),
- dynamic binarization of epoch e: `(seed, rank, e, worker)` (`data.binarize.BatchTransform`),
- the model's noise (posterior and prior samples) in batch b of epoch e: `(seed, rank, e, b)`
  (`BatchSeeding`).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer


def derive_seed(*keys: int) -> int:
    """A 63-bit seed mixing `keys` (SeedSequence: nearby keys give unrelated seeds)."""
    state = np.random.SeedSequence([k % 2**32 for k in keys]).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


class BatchSeeding(Callback):
    """Reseeds torch's global RNG before every training batch from (seed, rank, epoch, batch index).

    Args:
        seed: the run's seed; None reads the one `seed_everything` exported (PL_GLOBAL_SEED), else 0.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: object, batch_idx: int
    ) -> None:
        seed = self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))
        device = getattr(pl_module, "device", torch.device("cpu"))
        seed_generators(derive_seed(seed, trainer.global_rank, trainer.current_epoch, batch_idx), device)


def seed_generators(seed: int, device: torch.device) -> None:
    """`torch.manual_seed(seed)` for the generators a step on `device` draws from: the CPU's and the device's.

    Same draws as `torch.manual_seed`, without its cost of queueing the seed for accelerators not in use
    (docs/benchmarks.md, "Reseeding").
    """
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(seed)  # CUDA is initialised by now: applied at once, no stack trace
    elif device.type != "cpu":
        torch.manual_seed(seed)
