"""Whole-set computations split over processes so that the result does not depend on how many there are.

An evaluation set of N examples is cut into fixed chunks (0..c, c..2c, ...). Chunk k is computed by rank
k mod world_size, with its random numbers drawn from a generator seeded by (seed, k), never from the
process's global stream. Every rank writes its chunks into a zero tensor of the full size and the ranks
sum them (all-reduce): chunks are disjoint, so the sum adds only exact zeros and every rank ends up with
the same full tensor that one process would have computed alone. Nothing is padded, so the duplicates a
`DistributedSampler` adds to even out its shards never reach a metric.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

ChunkFn = Callable[[slice, torch.Generator], Tensor]
"""Computes the rows `[slice]` of a result, drawing any noise from the generator it is given."""

SEED_STRIDE = 1_000_003  # a prime: (seed, chunk) pairs map to distinct generator seeds
PRIOR_STREAM = SEED_STRIDE - 1  # the "chunk" whose stream draws prior samples (no real set has this many)


@dataclass(frozen=True)
class Shards:
    """How work is split: this process's `rank` among `world_size`, and how to sum across them."""

    rank: int = 0
    world_size: int = 1
    all_reduce_sum: Callable[[Tensor], Tensor] = lambda t: t

    def mine(self, index: int) -> bool:
        """Whether work item `index` (a chunk, a block of a matrix) is this process's."""
        return index % self.world_size == self.rank

    def sum(self, value: Tensor) -> Tensor:
        return self.all_reduce_sum(value) if self.world_size > 1 else value


def chunk_generator(seed: int, chunk: int, device: torch.device) -> torch.Generator:
    """The random stream of one chunk: the same whatever the number of processes."""
    return torch.Generator(device=device).manual_seed(seed * SEED_STRIDE + chunk)


def map_chunks(
    fn: ChunkFn,
    n: int,
    tail_shape: Sequence[int],
    shards: Shards,
    *,
    chunk_size: int,
    seed: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """The full `[n, *tail_shape]` result of `fn` over fixed chunks of `range(n)`, on every rank."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    out = torch.zeros(n, *tail_shape, dtype=dtype, device=device)
    for k, start in enumerate(range(0, n, chunk_size)):
        if shards.mine(k):
            rows = slice(start, min(start + chunk_size, n))
            out[rows] = fn(rows, chunk_generator(seed, k, device)).to(dtype)
    return shards.sum(out)
