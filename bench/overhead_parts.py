"""What each part of our Lightning path costs a training step: (a)/(b) with parts taken away, in one process.

    python bench/overhead_parts.py --model mmd --batch-size 100 --repeats 3

The model `train.py` builds (the MLP on binarized MNIST) trains in a bare `Trainer`: no callbacks but the
pairing of bench/paired.py, no logger, no progress bar, no validation. Variants, each `--repeats` fits in
this process, each fit's a/b the median of its paired windows:

  trainer:       our module and DataModule, nothing else
  plain loader:  batches from a list of pre-gathered batches instead of the DataModule's loader (its
                 sampler, `__getitems__` and batch transform)
  bare step:     `training_step` reduced to `terms(x).loss` (no logging decision, no NaN check, no logging)
  both:          the two together; what is left is Lightning's loop (bench/lightning_floor.py) and the
                 module's own way of computing the same loss

Automatically optimized models only (ELBO, MMD, Stein); the AAE's manual steps are another loop.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lightning as L  # noqa: E402
import torch  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from bench.common import DEFAULT_DATA_DIR, QUIET_TRAINER, Case, compose, quiet  # noqa: E402
from bench.paired import PairedBareLoop  # noqa: E402
from infovae_lightning.data import InfoVAEDataModule  # noqa: E402

VARIANTS = ("trainer", "plain loader", "bare step", "both")


def fit_ratio(
    variant: str,
    model_cfg: dict[str, Any],
    kind: str,
    datamodule: InfoVAEDataModule,
    window: int,
    pairs: int,
    seed: int,
) -> float:
    torch.manual_seed(seed)
    module = instantiate(model_cfg, _convert_="all")
    if variant in ("bare step", "both"):
        module.training_step = lambda batch, batch_idx: module.terms(batch[0]).loss
    images = datamodule.datasets["train"].examples.x
    paired = PairedBareLoop(kind, window=window, pairs=pairs, images=images)
    trainer = L.Trainer(max_epochs=1000, limit_val_batches=0, callbacks=[paired], **QUIET_TRAINER)
    if variant in ("plain loader", "both"):
        batch_size = datamodule.hparams.batch_size
        order = torch.randperm(images.shape[0])
        batches = [
            (images[order[i : i + batch_size]], order[i : i + batch_size])
            for i in range(0, len(order), batch_size)
        ]
        trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
    else:
        trainer.fit(module, datamodule=datamodule)
    return paired.windows.results()["ratio"]


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--model", default="mmd", choices=("elbo", "mmd", "stein"))
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-root", default=DEFAULT_DATA_DIR)
    args = parser.parse_args()
    quiet()
    case = Case(args.model, "mlp", args.batch_size, steps=1, data_root=args.data_root)
    model_cfg = compose(case)["model"]
    datamodule = InfoVAEDataModule(name="binarized_mnist", root=args.data_root, batch_size=args.batch_size)
    datamodule.setup("fit")
    threads = torch.get_num_threads()
    print(f"{args.model}, MLP, batch {args.batch_size}, torch {torch.__version__}, {threads} threads")
    print("| variant | a/b per fit | median |")
    print("| --- | --- | ---: |")
    ratios: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for seed in range(args.repeats):  # variants interleaved, so that each sees the machine's same moments
        for variant in VARIANTS:
            ratios[variant].append(
                fit_ratio(variant, model_cfg, args.model, datamodule, args.window, args.pairs, seed)
            )
    for variant, values in ratios.items():
        print(f"| {variant} | {', '.join(f'{v:.2f}' for v in values)} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
