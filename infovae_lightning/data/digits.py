"""scikit-learn's 8×8 handwritten digits (1,797 labelled images, UCI "optdigits" test set), shipped inside
scikit-learn: real images with nothing to download, small enough to train on two CPU cores in a minute.
It is the data of `python train.py`'s first run."""

from __future__ import annotations

from pathlib import Path

import torch

from .examples import Examples
from .registry import DEFAULT_SOURCE, SPLITS, DatasetSpec, SplitPlan, register_dataset

SHAPE = (1, 8, 8)
NUM_CLASSES = 10
MAX_VALUE = 16.0  # pixels are counts 0..16 of a 4×4 block of the original 32×32 bitmap
ALL = "all"  # the one official split: scikit-learn ships a single set


def load(root: Path | None = None, split: str = ALL, download: bool = False) -> Examples:
    """All 1,797 images, float32 [N, 1, 8, 8] in [0, 1], with their int64 labels, in the file's order.

    `root` and `download` are ignored (the `Loader` signature): scikit-learn ships the data.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / MAX_VALUE
    return Examples(x, torch.as_tensor(bunch.target, dtype=torch.int64))


# σ is half a level (1/32): pixels take 17 levels (k/16), and with σ = 1 a digit's 64 pixels gain less from
# encoding x than q(z) matching p(z) costs at λ = 1000, so every model ignores z. 200 images are held out for
# val and 200 for test; the rest (1,397) train.
SPEC = register_dataset(
    DatasetSpec(
        name="digits",
        input_shape=SHAPE,
        num_classes=NUM_CLASSES,
        levels=int(MAX_VALUE) + 1,
        load=load,
        official_splits=(ALL,),
        sources={
            DEFAULT_SOURCE: SplitPlan(files=dict.fromkeys(SPLITS, ALL), held_out={"val": 200, "test": 200})
        },
        gaussian_sigma=1.0 / 32,
    )
)
