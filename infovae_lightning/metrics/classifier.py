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

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from infovae_lightning.data.registry import classifiable_datasets, dataset_names, dataset_spec
from infovae_lightning.errors import InfoVAEError

FORMAT_VERSION = 1
# What a classifier of each data set recognises (its domain: binarized MNIST holds the same digits as MNIST,
# so one MNIST classifier serves both) and the data set it is trained on are in the data set's record
# (`DatasetSpec.classifier_domain`, `classifier_data`).
META_KEYS = ("data", "domain", "input_shape", "num_classes", "arch", "format_version")


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


# --- saving and loading -----------------------------------------------------------------------------------


def save_classifier(model: DigitCNN, meta: dict, path: str | Path) -> None:
    """Writes `{"state_dict", "meta"}` to `path` (parent folders created), loadable with weights_only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    torch.save({"state_dict": state, "meta": meta}, path)


def how_to_make(path: str | Path, data: str, what: str = "it") -> str:
    """The command that creates a classifier for `data` at `path`."""
    spec = dataset_spec(data) if data in dataset_names() else None
    train_data = spec.classifier_data if spec is not None and spec.classifier_data else data
    return (
        f"create {what} with `infovae-classifier --data {train_data} --root <data dir> --out {path}` "
        "(add `--source test` to train on the official test file alone: offline, --root ../shared/data "
        "holds MNIST's)"
    )


def load_classifier(path: str | Path, data: str, input_shape: Sequence[int]) -> tuple[DigitCNN, dict]:
    """The classifier saved at `path`, in eval mode, with its metadata, checked to fit data set `data`.

    Loads with `weights_only=True`, so a file cannot run code; raises `ClassifierError` when the file is
    missing or is not a classifier, or was made for another domain (binarized MNIST and MNIST share one) or
    input shape, so a wrong classifier fails before training rather than scoring samples wrongly.
    """
    if data not in classifiable_datasets():
        choices = ", ".join(classifiable_datasets())
        raise ClassifierError(f"no classifier for data {data!r} ({path}); choose one of {choices}")
    domain = dataset_spec(data).classifier_domain
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
    if meta["domain"] != domain:
        raise ClassifierError(
            f"{path} classifies {meta['domain']} (trained on {meta['data']}), but the data {data} needs a "
            f"{domain} classifier; "
            + how_to_make(path.with_name(f"{domain}.pt"), data, f"a {domain} classifier")
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
