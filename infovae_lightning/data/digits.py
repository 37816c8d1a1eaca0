"""scikit-learn's 8×8 handwritten digits (1,797 labelled images, UCI "optdigits" test set), shipped inside
scikit-learn: real images with nothing to download, small enough to train on two CPU cores in a minute.
It is the data of `python train.py`'s first run."""

from __future__ import annotations

import torch

from .examples import Examples

SHAPE = (1, 8, 8)
NUM_CLASSES = 10
MAX_VALUE = 16.0  # pixels are counts 0..16 of a 4×4 block of the original 32×32 bitmap


def load() -> Examples:
    """All 1,797 images, float32 [N, 1, 8, 8] in [0, 1], with their int64 labels, in the file's order."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / MAX_VALUE
    return Examples(x, torch.as_tensor(bunch.target, dtype=torch.int64))
