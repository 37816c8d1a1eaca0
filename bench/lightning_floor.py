"""What Lightning's training loop costs a step by itself: a one-parameter model, no callbacks, no logger.

    python bench/lightning_floor.py --steps 3000 --repeats 3

Trains `w·x` with SGD on batches of one number, through `Trainer.fit` (automatic optimization, the
DataLoader path) and through a bare loop over the same DataLoader, and prints µs per step of each: the
difference is the floor of what any LightningModule pays per step here, before its own hooks, logging and
callbacks (the rest of the overhead in docs/benchmarks.md). The first fifth of the steps is left out.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lightning as L  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from bench.common import QUIET_TRAINER, quiet  # noqa: E402


class OneWeight(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return (self.w * batch[0]).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


class StepClock(L.Callback):
    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_train_batch_end(self, *args: object) -> None:
        self.ends.append(time.perf_counter())


def lightning_step(loader: DataLoader, steps: int) -> float:
    clock = StepClock()
    trainer = L.Trainer(max_steps=steps, callbacks=[clock], **QUIET_TRAINER)
    trainer.fit(OneWeight(), loader)
    skip = steps // 5
    return (clock.ends[-1] - clock.ends[skip]) / (len(clock.ends) - 1 - skip)


def bare_step(loader: DataLoader, steps: int) -> float:
    w = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([w], lr=0.01)
    batches = iter(loader)
    skip = steps // 5
    for i in range(steps):
        if i == skip:
            start = time.perf_counter()
        optimizer.zero_grad()
        (w * next(batches)[0]).sum().backward()
        optimizer.step()
    return (time.perf_counter() - start) / (steps - skip)


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    quiet()
    loader = DataLoader(TensorDataset(torch.ones(args.steps + 1, 1)), batch_size=1)
    rows = []
    for _ in range(args.repeats):  # alternating, so that both see the machine's same moments
        rows.append((lightning_step(loader, args.steps), bare_step(loader, args.steps)))
    ours, bare = (statistics.median(column) * 1e6 for column in zip(*rows, strict=True))
    print(f"torch {torch.__version__}, lightning {L.__version__}, {torch.get_num_threads()} threads")
    print(f"Trainer.fit {ours:.0f} µs/step, bare loop {bare:.0f}: Lightning's loop {ours - bare:.0f} µs")


if __name__ == "__main__":
    main()
