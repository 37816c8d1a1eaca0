"""The training order: a permutation per epoch drawn from (seed, epoch) alone (see `..seeding`)."""

from __future__ import annotations

from torch.utils.data import Dataset, DistributedSampler

from .binarize import BatchTransform


class EpochShuffle(DistributedSampler):
    """This rank's share of a permutation of the data set seeded by (seed, epoch): DistributedSampler's rule,
    used with one process too, so the order never depends on how many epochs this process has run.

    Lightning calls `set_epoch` before every epoch (and keeps a DistributedSampler as it is under DDP); it is
    passed on to the batch transform, whose dynamic binarization is seeded by the epoch as well.
    """

    def __init__(self, dataset: Dataset, transform: BatchTransform, num_replicas: int, rank: int, seed: int):
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=False
        )
        self.transform = transform

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.transform.set_epoch(epoch)
