"""The paper's toy data set (InfoVAE, Section 3.1 / Figure 1): x uniform on the two points {-1, 1}."""

from __future__ import annotations

import torch

from .examples import Examples
from .registry import DEFAULT_SOURCE, DatasetSpec, SplitPlan, register_dataset


def toy(size: int = 10000, seed: int = 0) -> Examples:
    """`size` points, exactly balanced (one more +1 when `size` is odd), in an order shuffled by `seed`.

    Balanced exactly, not drawn i.i.d., so that the data distribution is the two-point one the paper
    analyses whatever the size; the label is 1 for x = +1 and 0 for x = -1.
    """
    if size < 1:
        raise ValueError(f"toy: size must be >= 1, got {size}")
    labels = (torch.arange(size) + 1) % 2  # 1, 0, 1, 0, ...: the extra point of an odd size is a +1
    labels = labels[torch.randperm(size, generator=torch.Generator().manual_seed(seed))]
    x = (2.0 * labels - 1.0).to(torch.float32).unsqueeze(1)
    return Examples(x, labels.to(torch.int64))


# The toy data (x = ±1) with a unit-σ decoder gains at most 0.5 nat from encoding x, less than the KL it
# costs, so the latent would be ignored: there the decoder learns σ (per pixel), starting from 1, as the
# paper's experiments were measured. Three independent draws make train (`data.toy_size`), val and test.
SPEC = register_dataset(
    DatasetSpec(
        name="toy",
        input_shape=(1,),
        num_classes=2,
        levels=None,
        generate=toy,
        sources={DEFAULT_SOURCE: SplitPlan(held_out={"val": 1000, "test": 1000})},
        value_range=(-1.0, 1.0),
        gaussian_sigma=1.0,
        learn_sigma=True,
    )
)
