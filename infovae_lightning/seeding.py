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
        torch.manual_seed(derive_seed(seed, trainer.global_rank, trainer.current_epoch, batch_idx))
