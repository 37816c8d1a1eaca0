"""The pretrained classifier behind `class_dist_ce`, the paper's class-distribution sample-quality metric.

InfoVAE (Zhao, Song & Ermon, "InfoVAE: Balancing Learning and Inference in Variational Autoencoders")
judges generated samples by labelling them with a classifier trained on the real data and comparing the
predicted class distribution with the data's: a model whose aggregate posterior misses parts of the prior
generates garbage, or the same few classes, there (see `class_dist.py` for the metric itself). The metric
is only as good as the labels, so the classifier here must be accurate (>= 98% on MNIST digits) and must
read what a generative model produces: a Bernoulli decoder's mean is a grey image of probabilities, its
sample a binary one. It is therefore trained on a random half of every batch binarized by Bernoulli draws,
and its accuracy is reported on the grey and on a binarized copy of the test split.

Make one with `infovae-classifier --data mnist --root ../shared/data --source test` (the labelled MNIST test
file alone, split 8,000/1,000/1,000: what is available offline); it is saved with plain-typed metadata so
that `load_classifier` can use `torch.load(..., weights_only=True)` and refuse a classifier of another domain
or input shape before any model is trained.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from infovae_lightning.errors import InfoVAEError

FORMAT_VERSION = 1
# What a classifier of each data set recognises: binarized MNIST holds the same digits as MNIST (and has no
# labels of its own), so one MNIST classifier serves both.
DOMAINS: dict[str, str] = {
    "mnist": "mnist_digits",
    "binarized_mnist": "mnist_digits",
    "fashion_mnist": "fashion_mnist",
    "cifar10": "cifar10",
}
# The labelled data set to train a classifier of each domain on.
TRAIN_DATA: dict[str, str] = {"mnist_digits": "mnist", "fashion_mnist": "fashion_mnist", "cifar10": "cifar10"}
META_KEYS = ("data", "domain", "input_shape", "num_classes", "arch", "format_version")
DEFAULT_EPOCHS = 12
DEFAULT_BATCH_SIZE = 64
DEFAULT_LR = 3e-3
MAX_SHIFT = 2.0  # pixels of random translation in training (and a few degrees of rotation, a little scale)
MAX_ROTATION = math.radians(10.0)
MAX_SCALE = 0.1
BINARIZED_TEST_SEED = 20170728  # the fixed Bernoulli draw of the test split behind test_accuracy_binarized


class ClassifierError(InfoVAEError, ValueError):
    """A classifier cannot be made or used as asked; the one-line message names the path and the fix."""


class DigitCNN(nn.Module):
    """A small VGG-style CNN: two blocks of two 3x3 convolutions (batch norm, ReLU, 2x2 max pool), then
    one hidden dense layer with dropout. Small enough to train on a laptop CPU in minutes, and over 98%
    accurate on MNIST digits from 8,000 training examples.

    Args:
        in_channels: 1 for MNIST-like data, 3 for CIFAR-10.
        image_size: height = width of the input, 28 or 32 (any multiple of 4).
        num_classes: number of logits.
        width: channels of the first block (the second has twice as many).
        hidden: units of the dense layer.
        dropout: dropout before the last layer.
    """

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        num_classes: int = 10,
        width: int = 32,
        hidden: int = 128,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {image_size}")
        self.arch = dict(
            in_channels=in_channels,
            image_size=image_size,
            num_classes=num_classes,
            width=width,
            hidden=hidden,
            dropout=dropout,
        )
        self.input_shape = (in_channels, image_size, image_size)

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(
            *block(in_channels, width),
            *block(width, width),
            nn.MaxPool2d(2),
            *block(width, 2 * width),
            *block(2 * width, 2 * width),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * width * (image_size // 4) ** 2, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Logits [B, num_classes] for images [B, C, H, W] (or flattened [B, C*H*W]) in [0, 1].

        Inputs are clamped to [0, 1]: a Gaussian decoder's mean may stray outside the data's range.
        """
        x = x.reshape(x.shape[0], *self.input_shape).clamp(0.0, 1.0)
        return self.head(self.features(x))


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

    if data not in DOMAINS:
        raise ClassifierError(f"no classifier for data {data!r}; choose one of {', '.join(DOMAINS)}")
    train_data = TRAIN_DATA[DOMAINS[data]]
    if data != train_data:
        raise ClassifierError(
            f"{data} has no labels to train a classifier on; train on {train_data} "
            f"(same domain {DOMAINS[data]}): --data {train_data}"
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
        domain=DOMAINS[data],
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


# --- saving and loading -----------------------------------------------------------------------------------


def save_classifier(model: DigitCNN, meta: dict, path: str | Path) -> None:
    """Writes `{"state_dict", "meta"}` to `path` (parent folders created), loadable with weights_only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    torch.save({"state_dict": state, "meta": meta}, path)


def how_to_make(path: str | Path, data: str, what: str = "it") -> str:
    """The command that creates a classifier for `data` at `path`."""
    domain = DOMAINS.get(data, "")
    train_data = TRAIN_DATA.get(domain, data)
    offline = (
        "the labelled MNIST test set alone, e.g. offline with --root ../shared/data"
        if domain == "mnist_digits"
        else "the official test file alone"
    )
    return (
        f"create {what} with `infovae-classifier --data {train_data} --root <data dir> --out {path}` "
        f"(add `--source test` to train on {offline})"
    )


def load_classifier(path: str | Path, data: str, input_shape: Sequence[int]) -> tuple[DigitCNN, dict]:
    """The classifier saved at `path`, in eval mode, with its metadata, checked to fit data set `data`.

    Loads with `weights_only=True`, so a file cannot run code; raises `ClassifierError` when the file is
    missing or is not a classifier, or was made for another domain (binarized MNIST and MNIST share one) or
    input shape, so a wrong classifier fails before training rather than scoring samples wrongly.
    """
    if data not in DOMAINS:
        raise ClassifierError(f"no classifier for data {data!r} ({path}); choose one of {', '.join(DOMAINS)}")
    path = Path(path)
    if not path.is_file():
        raise ClassifierError(f"classifier {path} not found; {how_to_make(path, data)}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged file can make the unpickler raise almost anything (IndexError...)
        reason = " ".join(str(error).split())[:200]
        raise ClassifierError(
            f"{path} is not a classifier checkpoint ({type(error).__name__}: {reason}); "
            f"{how_to_make(path, data)}"
        ) from error
    meta = checkpoint.get("meta") if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict) or "state_dict" not in checkpoint or set(META_KEYS) - set(meta):
        raise ClassifierError(
            f"{path} is not a classifier checkpoint (no state_dict and meta with {', '.join(META_KEYS)}); "
            f"{how_to_make(path, data)}"
        )
    if meta["format_version"] != FORMAT_VERSION:
        raise ClassifierError(
            f"{path} has format version {meta['format_version']}, this code reads {FORMAT_VERSION}; "
            f"{how_to_make(path, data)}"
        )
    if meta["domain"] != DOMAINS[data]:
        raise ClassifierError(
            f"{path} classifies {meta['domain']} (trained on {meta['data']}), but the data {data} needs a "
            f"{DOMAINS[data]} classifier; "
            + how_to_make(path.with_name(f"{DOMAINS[data]}.pt"), data, f"a {DOMAINS[data]} classifier")
        )
    expected = [int(size) for size in input_shape]
    if list(meta["input_shape"]) != expected:
        raise ClassifierError(
            f"{path} takes inputs of shape {list(meta['input_shape'])}, but the model's are {expected}; "
            f"{how_to_make(path, data)}"
        )
    try:
        model = DigitCNN(**meta["arch"])
        model.load_state_dict(checkpoint["state_dict"])
    except (TypeError, ValueError, RuntimeError) as error:
        reason = " ".join(str(error).split())[:200]
        raise ClassifierError(
            f"{path}: weights do not fit its architecture ({reason}); {how_to_make(path, data)}"
        ) from error
    return model.eval(), meta


# --- command line -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="infovae-classifier",
        description="Train the classifier that labels generated samples for the class_dist_ce metric.",
    )
    parser.add_argument("--data", required=True, choices=list(DOMAINS), help="labelled data set")
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
    out = Path(args.out) if args.out else Path("classifiers") / f"{DOMAINS[args.data]}.pt"
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
