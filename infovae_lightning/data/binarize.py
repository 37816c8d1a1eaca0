"""Binarizing intensities in [0, 1]: once (`threshold`), or by fresh Bernoulli draws (`dynamic`).

Dynamic binarization (x ~ Bernoulli(intensity)) is a data augmentation: each epoch sees new binary images,
so it is redrawn for every training batch, inside the loaders' collate function. Doing it per batch rather
than per item keeps it one vectorised call; doing it in the collate function rather than in a Lightning
hook means that iterating a loader by hand yields exactly what training sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import default_collate, get_worker_info

from infovae_lightning.run.seeding import derive_seed

BINARIZE_MODES: tuple[str, ...] = ("dynamic", "threshold", "none")
Batch = tuple[Tensor, Tensor]  # (x, y)


def check_mode(binarize: str) -> str:
    if binarize not in BINARIZE_MODES:
        raise ValueError(f"unknown binarize mode {binarize!r}; choose one of {', '.join(BINARIZE_MODES)}")
    return binarize


def threshold(x: Tensor) -> Tensor:
    """1 where the intensity is above one half, else 0, in x's dtype."""
    return (x > 0.5).to(x.dtype)


def sample(x: Tensor, generator: torch.Generator) -> Tensor:
    """One Bernoulli draw per pixel with probability the pixel's intensity."""
    return torch.bernoulli(x, generator=generator)


class BatchTransform:
    """The loaders' collate function: stacks a batch if needed, then redraws it when `dynamic`.

    Draws are reproducible and independent of history: epoch e's come from a generator seeded by (seed, e,
    worker), where `seed` already differs between ranks and `set_epoch` is called by the training sampler
    (`shuffle.EpochShuffle`) before each epoch. A run resumed at epoch e therefore redraws what an
    uninterrupted run drew (with worker processes too, as they are started afresh every epoch).
    """

    def __init__(self, dynamic: bool = False, seed: int = 0) -> None:
        self.dynamic = dynamic
        self.seed = seed
        self.epoch = 0
        self._generator: torch.Generator | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Sent to worker processes without the generator: each worker seeds its own on first use.
        return {**self.__dict__, "_generator": None}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._generator = None

    def generator(self, device: torch.device | str = "cpu") -> torch.Generator:
        """The epoch's generator on `device` (the batch's: a GPU when the data module holds the data there;
        a GPU's draws are another stream than the CPU's, reproducible in the same way)."""
        device = torch.device(device)
        if self._generator is None or self._generator.device != device:
            worker = get_worker_info()
            stream = 0 if worker is None else worker.id + 1
            seed = derive_seed(self.seed, self.epoch, stream)
            self._generator = torch.Generator(device=device).manual_seed(seed)
        return self._generator

    def __call__(self, batch: Batch | Sequence[Batch]) -> Batch:
        if isinstance(batch, tuple) and len(batch) == 2 and isinstance(batch[0], Tensor):
            x, y = batch  # already stacked by InMemoryDataset.__getitems__
        else:
            x, y = default_collate(list(batch))  # a dataset that serves single items
        if self.dynamic:
            x = sample(x, self.generator(x.device))
        return x, y
