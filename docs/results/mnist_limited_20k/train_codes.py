"""Is q(z) at p(z) on the training images but not on held-out ones? The mechanism behind small sets' numbers.

The study's tables measure q(z) on 1,000 validation images, but D(q(z)‖p(z)) in the objective only ever sees
the training images' codes: on 500 images an encoder can match p(z) there and still map new images elsewhere.
For each completed job, from its last checkpoint: `mmd_full` and logdet Cov[q(z)] per dimension of z ~ q(z|x)
over n training images and over n validation images, n = min(training size, 1,000) for both (the biased
estimator's offset depends on n), the MMD averaged over DRAWS prior samples of that size. The table's first
rows put i.i.d. p(z) samples in place of the codes: what a perfect q(z) scores at that n (codes fitted to
p(z) by the MMD itself can score lower, being more even than random draws). `train_codes.csv` (committed)
keeps every job's values, so the table can be made again from it alone:

    python docs/results/mnist_limited_20k/train_codes.py --root ../shared/data /work/exp/<sweep> ...
    python docs/results/mnist_limited_20k/train_codes.py              # from train_codes.csv
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from functools import partial
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from make_tables import data_of, label_of, rank  # noqa: E402
from sweep_points import cell, completed_jobs, datamodule_of, first_examples, stored_points  # noqa: E402

MAX_CODES = 1000
DRAWS = 5
LATENT_DIM = 2  # the study's (sweeps/mnist_limited.yaml), for the i.i.d. rows
SPLITS = {"train": "training", "val": "held-out"}
METRICS = {"mmd_full": ("mmd_full", "{:.4f}"), "logdet": ("logdet/dim", "{:.2f}")}
FIELDS = ["model", "size", "seed", "step", "metric", "value"]


def divergence(z: torch.Tensor) -> float:
    """`mmd_full` (the tables' Gaussian kernel, biased): z against DRAWS prior draws, averaged."""
    from infovae_lightning.metrics.mmd_full import full_mmd

    generator = torch.Generator().manual_seed(0)
    return statistics.fmean(full_mmd(z, torch.randn(z.shape, generator=generator)) for _ in range(DRAWS))


def codes_of(n: int) -> int:
    return min(n, MAX_CODES)


def read_codes(sweeps: list[Path], root: Path) -> list[dict]:
    """(model, size, seed, step, metric, value) of the completed jobs; metric: "<split>/<mmd_full|logdet>"."""
    from infovae_lightning.metrics.logdet import logdet_cov_per_dim
    from infovae_lightning.protocols import encode
    from infovae_lightning.run.checkpoints import load_model, read_checkpoint

    out = []
    for job in completed_jobs(sweeps):
        dm = datamodule_of(job.config, root)
        n = codes_of(job.config["data"]["train_size"])
        torch.manual_seed(0)
        loaders = {"train": dm.train_dataloader(), "val": dm.val_dataloader()}
        path = job.path / "checkpoints" / "last.ckpt"
        step, model = read_checkpoint(path).global_step, load_model(path).eval()
        key = dict(model=label_of(job.config), size=job.config["data"]["train_size"], seed=job.config["seed"])
        with torch.no_grad():
            for split, loader in loaders.items():
                images, _ = first_examples(loader, n)
                z = encode(model, images).rsample()  # the mean itself for a deterministic encoder
                for metric, value in (("mmd_full", divergence(z)), ("logdet", logdet_cov_per_dim(z))):
                    out.append(key | dict(step=step, metric=f"{split}/{metric}", value=value))
        print(f"read {job.path}", file=sys.stderr)
    return out


def iid_row(n: int) -> str:
    """The row of i.i.d. p(z) samples in place of n codes."""
    from infovae_lightning.metrics.logdet import logdet_cov_per_dim

    z = torch.randn(n, LATENT_DIM, generator=torch.Generator().manual_seed(1))
    values = {"mmd_full": divergence(z), "logdet": logdet_cov_per_dim(z)}
    cells = [f"{METRICS[m][1].format(values[m])}" for m in METRICS for _ in SPLITS]
    return f"| — | p(z) samples | — | — | {n:,} | " + " | ".join(cells) + " |"


def table(rows: list[dict]) -> str:
    """Mean ± std over seeds of each (pixels, model, size): the metrics on the training and held-out codes."""
    values: dict[tuple[str, int], dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        values[r["model"], int(r["size"])][r["metric"]][int(r["seed"])] = float(r["value"])
    head = ["pixels", "model", "train images", "seeds", "n"]
    head += [f"{title} {SPLITS[split]}" for title, _ in METRICS.values() for split in SPLITS]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += [iid_row(n) for n in (500, MAX_CODES)]
    for model, size in sorted(values, key=lambda g: (data_of(g[0]), rank(g[0]), g[1])):
        by_metric = values[model, size]
        seeds = len(by_metric["val/mmd_full"])
        cells = [
            cell(list(by_metric[f"{split}/{metric}"].values()), form)
            for metric, (_, form) in METRICS.items()
            for split in SPLITS
        ]
        lines.append(
            f"| {data_of(model)} | {model} | {size:,} | {seeds} | {codes_of(size):,} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="*", help="sweep directories to add to train_codes.csv")
    parser.add_argument("--root", type=Path, help="the data root (holding MNIST's test file); with sweeps")
    args = parser.parse_args(argv)
    if args.sweeps and args.root is None:
        parser.error("--root is needed to read sweeps")
    rows = stored_points(HERE / "train_codes.csv", args.sweeps, partial(read_codes, root=args.root), FIELDS)
    print(table(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
