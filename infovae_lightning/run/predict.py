"""`trainer.predict` (`infovae predict`): the posterior of every example of a split, and optionally samples,
written to one `.npz` file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info


class PredictionWriter(BasePredictionWriter):
    """Writes the model's `predict_step` outputs of the whole split to `path` (.npz), in the split's order:

    - `mean`, `var`: [N, latent_dim], the mean and variance of q(z|x) of each example (`predict_step`),
    - `label`: [N], the class of each example (-1 where the data set has none),
    - with `samples` > 0 also `z` [samples, latent_dim] ~ p(z) and `samples` [samples, *input_shape], the
      decoder's mean E[x|z] for each z (drawn with `seed`, so the same every time).

    Args:
        path: the .npz file; None writes `predictions.npz` into the Trainer's log directory.
        samples: the number of generated images to add.
        seed: the seed of those samples.
    """

    def __init__(self, path: str | None = None, samples: int = 0, seed: int = 0) -> None:
        super().__init__(write_interval="epoch")
        if samples < 0:
            raise ValueError(f"samples must be >= 0, got {samples}")
        self.path, self.samples, self.seed = path, samples, seed

    def write_on_epoch_end(
        self, trainer: Trainer, pl_module: LightningModule, predictions: Any, batch_indices: Any
    ) -> None:
        outputs = predictions[0] if predictions and isinstance(predictions[0], list) else predictions
        indices = batch_indices[0] if batch_indices and isinstance(batch_indices[0], list) else batch_indices
        columns = {key: torch.cat([out[key] for out in outputs]).cpu() for key in outputs[0]}
        order = torch.tensor([i for batch in indices for i in batch], dtype=torch.long)
        if trainer.world_size > 1:  # each rank predicted its share (padded): gather, then put in order
            shares: list[Any] = [None] * trainer.world_size
            dist.all_gather_object(shares, (order, columns))
            order = torch.cat([share[0] for share in shares])
            columns = {key: torch.cat([share[1][key] for share in shares]) for key in columns}
        if not trainer.is_global_zero:
            return
        first = {int(i): n for n, i in reversed(list(enumerate(order.tolist())))}  # drops DDP padding
        keep = torch.tensor([first[i] for i in sorted(first)], dtype=torch.long)
        arrays = {key: value[keep].numpy() for key, value in columns.items()}
        if self.samples:
            generator = torch.Generator().manual_seed(self.seed)
            z = torch.randn(self.samples, pl_module.hparams.latent_dim, generator=generator)
            with torch.no_grad():
                x = pl_module.decoder.mean(z.to(pl_module.device)).cpu()
            arrays |= {"z": z.numpy(), "samples": x.numpy()}
        path = (
            Path(self.path)
            if self.path
            else Path(trainer.log_dir or trainer.default_root_dir) / "predictions.npz"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays)
        rank_zero_info(f"predictions of {len(keep)} examples written to {path}")
