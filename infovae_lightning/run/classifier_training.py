"""`infovae-classifier`: trains the classifier that `class_dist_ce` labels generated samples with.

The classifier itself (its architecture, file format and loading) is `infovae_lightning.metrics.classifier`;
this module trains one on a labelled data set, with augmentation and random binarization so that it reads what
a Bernoulli decoder produces (grey means and binary samples alike).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from infovae_lightning.data.registry import classifiable_datasets, classifier_domain, dataset_spec
from infovae_lightning.metrics.classifier import (
    FORMAT_VERSION,
    ClassifierError,
    DigitCNN,
    save_classifier,
)

DEFAULT_EPOCHS = 12
DEFAULT_BATCH_SIZE = 64
DEFAULT_LR = 3e-3
MAX_SHIFT = 2.0  # pixels of random translation in training (and a few degrees of rotation, a little scale)
MAX_ROTATION = math.radians(10.0)
MAX_SCALE = 0.1
BINARIZED_TEST_SEED = 20170728  # the fixed Bernoulli draw of the test split behind test_accuracy_binarized


# --- training ---------------------------------------------------------------------------------------------


def augment(x: Tensor, generator: torch.Generator) -> Tensor:
    """A random small affine map of every image, then Bernoulli binarization of a random half of them.

    The binarized half teaches the classifier to read binary samples as well as grey decoder means.
    """
    n = x.shape[0]

    def uniform(scale: float) -> Tensor:
        return (torch.rand(n, generator=generator, device=x.device) * 2 - 1) * scale

    angle, scale = uniform(MAX_ROTATION), 1 + uniform(MAX_SCALE)
    size = x.shape[-1]
    shift = torch.stack([uniform(MAX_SHIFT), uniform(MAX_SHIFT)], dim=1) * 2 / size  # in [-1, 1] coordinates
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    theta = torch.cat([theta, shift.unsqueeze(2)], dim=2)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False).clamp(0.0, 1.0)
    binary = torch.rand(n, generator=generator, device=x.device) < 0.5
    drawn = torch.bernoulli(x, generator=generator)
    return torch.where(binary.view(n, 1, 1, 1), drawn, x)


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 500) -> float:
    """The fraction of `x` that `model` labels `y` (in eval mode), accumulated batch by batch by torchmetrics'
    `MulticlassAccuracy` (micro average: correct / total, the number Lightning users know)."""
    model.eval()
    device = next(model.parameters()).device
    metric: MulticlassAccuracy | None = None
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size].to(device))
        if metric is None:
            metric = MulticlassAccuracy(num_classes=logits.shape[-1], average="micro").to(device)
        metric.update(logits, y[start : start + batch_size].to(device))
    return float(metric.compute()) if metric is not None else 0.0


def _load_splits(data: str, root: str, source: str, download: bool = False) -> dict[str, Any]:
    """The train/val/test `Examples` of `data` (a labelled data set) and its number of classes."""
    from infovae_lightning.data import InfoVAEDataModule

    if data not in classifiable_datasets():
        choices = ", ".join(classifiable_datasets())
        raise ClassifierError(f"no classifier for data {data!r}; choose one of {choices}")
    spec = dataset_spec(data)
    if data != spec.classifier_data:
        raise ClassifierError(
            f"{data} has no labels to train a classifier on; train on {spec.classifier_data} "
            f"(same domain {spec.classifier_domain}): --data {spec.classifier_data}"
        )
    dm = InfoVAEDataModule(name=data, root=root, source=source, binarize="none", download=download)
    dm.prepare_data()
    dm.setup(None)
    splits: dict[str, Any] = {split: dm.datasets[split].examples for split in ("train", "val", "test")}
    splits["num_classes"] = dm.num_classes
    return splits


def train_classifier(
    data: str,
    root: str,
    source: str = "train",
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    seed: int = 0,
    device: str = "cpu",
    train_size: int | None = None,
    download: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[DigitCNN, dict]:
    """Trains a `DigitCNN` on the train split of `data`, keeps the epoch best on val, scores the test split.

    Adam with a one-cycle learning-rate schedule peaking at `lr` (the warm-up lets batch norm settle, the
    decay lets the last epochs polish: together 12 epochs suffice). `train_size` keeps only the first that
    many training examples (for quick tests); `download` fetches missing files into `root`; `log(line)` is
    called with one line per epoch. Returns the model in eval mode, on the CPU, and its metadata (plain
    types only, see `save_classifier`).
    """
    if epochs < 1 or batch_size < 1 or lr <= 0 or (train_size is not None and train_size < 1):
        raise ClassifierError(
            f"need epochs >= 1, batch size >= 1, lr > 0, train size >= 1; "
            f"got {epochs}, {batch_size}, {lr}, {train_size}"
        )
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ClassifierError(f"--device {device} asked but CUDA is not available; use --device cpu")
    splits = _load_splits(data, root, source, download)
    x_train, y_train = splits["train"].x, splits["train"].y
    if train_size is not None:
        x_train, y_train = x_train[:train_size], y_train[:train_size]
    num_classes = int(splits["num_classes"])
    shape = tuple(x_train.shape[1:])

    torch.manual_seed(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    model = DigitCNN(in_channels=shape[0], image_size=shape[-1], num_classes=num_classes).to(device)
    steps = math.ceil(len(x_train) / batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps)
    x_train, y_train = x_train.to(device), y_train.to(device)
    best = (-1.0, 0, copy.deepcopy(model.state_dict()))
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train), generator=generator, device=device)
        total = 0.0
        for i in range(steps):
            index = order[i * batch_size : (i + 1) * batch_size]
            loss = F.cross_entropy(model(augment(x_train[index], generator)), y_train[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(index)
        val = accuracy(model, splits["val"].x, splits["val"].y)
        if val > best[0]:  # ties keep the earlier epoch
            best = (val, epoch, copy.deepcopy(model.state_dict()))
        if log is not None:
            log(
                f"epoch {epoch}/{epochs}: loss {total / len(x_train):.4f}, val accuracy {val:.4f} "
                f"({time.perf_counter() - start:.1f}s)"
            )
    model.load_state_dict(best[2])
    model = model.cpu().eval()

    test = splits["test"]
    binarized = torch.bernoulli(test.x, generator=torch.Generator().manual_seed(BINARIZED_TEST_SEED))
    meta = dict(
        data=data,
        domain=classifier_domain(data),
        input_shape=list(shape),
        num_classes=num_classes,
        arch=dict(model.arch),
        test_accuracy=accuracy(model, test.x, test.y),
        test_accuracy_binarized=accuracy(model, binarized, test.y),
        val_accuracy=best[0],
        best_epoch=best[1],
        train_examples=len(x_train),
        test_examples=len(test),
        source=source,
        train=dict(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        format_version=FORMAT_VERSION,
    )
    return model, meta


# --- command line -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="infovae-classifier",
        description="Train the classifier that labels generated samples for the class_dist_ce metric.",
    )
    parser.add_argument(
        "--data", required=True, choices=list(classifiable_datasets()), help="labelled data set"
    )
    parser.add_argument("--root", required=True, help="folder holding the data (as data.root)")
    parser.add_argument(
        "--source",
        default="train",
        choices=("train", "test"),
        help="official file to train on; `test` splits the test file 8000/1000/1000 (offline MNIST)",
    )
    parser.add_argument("--out", help="where to save it (default: classifiers/<domain>.pt)")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--lr", type=float, default=DEFAULT_LR, help="peak learning rate (one-cycle Adam)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-size", type=int, help="train on the first N training examples (quick checks)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--download", action="store_true", help="download missing data files into --root")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """`infovae-classifier`: trains, prints one line per epoch and the test accuracies, saves; 0 on success.

    Data and classifier errors print one `error: ...` line to stderr and return 1.
    """
    from infovae_lightning.data import DatasetFormatError, DatasetNotFoundError

    args = parse_args(argv)
    out = Path(args.out) if args.out else Path("classifiers") / f"{classifier_domain(args.data)}.pt"
    started = time.perf_counter()
    try:
        model, meta = train_classifier(
            args.data,
            os.fspath(args.root),
            source=args.source,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            device=args.device,
            train_size=args.train_size,
            download=args.download,
            log=lambda line: print(line, flush=True),
        )
        save_classifier(model, meta, out)
    except DatasetNotFoundError as error:  # its fix is phrased as Hydra overrides: translate them
        print(f"error: {error} (here: --root <folder> or --download)", file=sys.stderr)
        return 1
    except (DatasetFormatError, ClassifierError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    grey, binary = meta["test_accuracy"], meta["test_accuracy_binarized"]
    print(f"test accuracy {grey:.4f} (grey), {binary:.4f} (binarized) on {meta['test_examples']} examples")
    print(f"best val accuracy {meta['val_accuracy']:.4f} at epoch {meta['best_epoch']}")
    print(f"saved {out} ({meta['domain']} classifier, {time.perf_counter() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
