"""The training order: a permutation per epoch drawn from (seed, epoch) alone (see `..seeding`), and a loader
that resumes it in the middle of an epoch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from torch.utils.data import DataLoader, Dataset, DistributedSampler

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


class ResumableLoader(DataLoader):
    """The training loader, resumable in the middle of an epoch.

    Lightning saves the `state_dict` of a loader that has one in each checkpoint and gives it back on resume
    (`fit_loop.combined_loader`), and it restarts the epoch's batch count where the checkpoint left it. The
    loader then has to start at that batch too: it draws the batches already trained on and drops them (with
    the data in memory this costs a few index operations per batch, and every per-batch draw, such as a
    dynamic binarization, advances exactly as in the uninterrupted run).

    `progress` says how many batches of the current epoch were trained on when a checkpoint is saved.
    """

    def __init__(self, *args: Any, progress: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.progress = progress
        self._skip: dict[str, int] | None = None

    def state_dict(self) -> dict[str, int]:
        return {"epoch": int(getattr(self.sampler, "epoch", 0)), "batches": int(self.progress())}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._skip = dict(state_dict)

    def __iter__(self) -> Iterator[Any]:
        skip, self._skip = self._skip, None
        return self._resumed(super().__iter__(), skip)

    def _resumed(self, batches: Iterator[Any], skip: dict[str, int] | None) -> Iterator[Any]:
        # A generator: the epoch is read at the first batch, after Lightning has set it (`set_epoch`).
        if skip and skip["epoch"] == getattr(self.sampler, "epoch", 0) and skip["batches"] < len(self):
            for _ in range(skip["batches"]):
                next(batches)
        yield from batches
