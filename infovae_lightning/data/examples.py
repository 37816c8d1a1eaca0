"""Labelled examples held in memory, and the Dataset that hands them out a whole batch at a time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset

NO_LABEL = -1  # the label of examples from data sets that have none (binarized MNIST)


@dataclass(frozen=True)
class Examples:
    """`x`: float32 [N, *input_shape]; `y`: int64 [N], `NO_LABEL` where the data set has no labels.

    Unpacks like a pair (`x, y = examples`); `len()` is the number of examples.
    """

    x: Tensor
    y: Tensor

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"{self.x.shape[0]} inputs but {self.y.shape[0]} labels")

    def __len__(self) -> int:
        return self.x.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        return iter((self.x, self.y))

    def take(self, index: Tensor) -> Examples:
        return Examples(self.x[index], self.y[index])


def unlabelled(x: Tensor) -> Examples:
    return Examples(x, torch.full((x.shape[0],), NO_LABEL, dtype=torch.int64))


class InMemoryDataset(Dataset):
    """A map-style dataset over `Examples` that also serves a batch with one indexing operation.

    The DataLoader calls `__getitems__` with a whole batch of indices when it exists, so a batch costs one
    fancy-index instead of `batch_size` item lookups plus a stack: the data sets here are small images and
    per-item Python overhead would dominate an epoch. The result is an already-stacked `(x, y)` pair, which
    `BatchTransform` (the loaders' collate function) accepts, on the device the examples are on.
    """

    def __init__(self, examples: Examples) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.examples.x[index], self.examples.y[index]

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
        # The index is made where the data is (a GPU when the data module holds the split there);
        # index_select is a plain row gather, 2-3x faster on a CPU than the general x[index].
        index = torch.as_tensor(indices, dtype=torch.int64, device=self.examples.x.device)
        return self.examples.x.index_select(0, index), self.examples.y.index_select(0, index)
