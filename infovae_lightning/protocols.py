"""What the divergences and the metrics need from a model and its data: bring your own.

A model (any `LightningModule`) is evaluated by every metric of `infovae_lightning.metrics` (run by the
`Evaluator` callback) when it has these attributes, whatever its class (`InfoVAE` has them):

- `encoder(x)`: the posterior q(z|x) of a batch, an object with `mean` [B, d] and `std` [B, d] (None for a
  point mass): our `Posterior`, or a `torch.distributions.Normal` (its `stddev` is read);
- `decoder.log_prob(x, z)`: log p(x|z) per example [B]; `decoder.sample(z)`: x ~ p(x|z); optionally
  `decoder.mean(z)`: E[x|z] for pictures (without it, `sample` is used);
- `latent_dim`: the dimension d of z (an attribute, or `hparams.latent_dim`).

The data is the trainer's `LightningDataModule` (or a metric's `eval_data`): its `val_dataloader()` /
`test_dataloader()` (and `train_dataloader()` for the linear probe's labelled pool), yielding `(x, y)` or
`x` batches, e.g. over a `TensorDataset`. A data module with an `examples(split)` method (ours) is read
directly; others are read through their loaders, once per `Evaluator`. The divergences (`MMD`,
`SteinDivergence`, `LatentDiscriminator`, `gaussian_kl_to_standard_normal`) take plain tensors of z and need
nothing else.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from infovae_lightning.data.examples import NO_LABEL, Examples
from infovae_lightning.nets.encoder import Posterior


@runtime_checkable
class PosteriorLike(Protocol):
    """q(z|x) for a batch: a diagonal Gaussian's mean and standard deviation."""

    mean: Tensor


@runtime_checkable
class DecoderLike(Protocol):
    """p(x|z): log-density per example and samples."""

    def log_prob(self, x: Tensor, z: Tensor) -> Tensor: ...

    def sample(self, z: Tensor) -> Tensor: ...


@runtime_checkable
class LatentVariableModel(Protocol):
    """A model the metrics can evaluate: an encoder to q(z|x), a decoder p(x|z), z's dimension."""

    encoder: Any  # Callable[[Tensor], PosteriorLike]; an nn.Module in practice
    decoder: DecoderLike


class EvaluationData(Protocol):
    """Labelled examples of a split, in memory (y = -1 where there is no label)."""

    def examples(self, split: str) -> Examples: ...


def latent_dim(model: Any) -> int:
    """d, from `model.latent_dim` or `model.hparams.latent_dim`."""
    value = getattr(model, "latent_dim", None)
    if value is None:
        value = getattr(getattr(model, "hparams", {}), "get", lambda _: None)("latent_dim")
    if value is None:
        raise AttributeError(f"{type(model).__name__} has neither latent_dim nor hparams.latent_dim")
    return int(value)


def as_posterior(q: Any) -> Posterior:
    """The encoder's output as our `Posterior` (mean, std or None), from ours or a torch Normal."""
    if isinstance(q, Posterior):
        return q
    if isinstance(q, torch.distributions.Independent):
        q = q.base_dist
    return Posterior(q.mean, q.std if hasattr(q, "std") else q.stddev)


def encode(model: Any, x: Tensor) -> Posterior:
    """q(z|x) of the batch `x` under `model`'s encoder."""
    return as_posterior(model.encoder(x))


def decoded_mean(model: Any, z: Tensor) -> Tensor:
    """E[x|z] where the decoder has `mean`, else a sample x ~ p(x|z)."""
    decoder = model.decoder
    return decoder.mean(z) if callable(getattr(decoder, "mean", None)) else decoder.sample(z)


def is_deterministic(model: Any) -> bool:
    """Whether q(z|x) is a point mass, from `hparams.deterministic` (False when the model says nothing)."""
    hparams = getattr(model, "hparams", {})
    return bool(hparams.get("deterministic", False)) if hasattr(hparams, "get") else False


class LoaderExamples:
    """`EvaluationData` for any data module: each split read once from its dataloader, in its order."""

    LOADERS = {"train": "train_dataloader", "val": "val_dataloader", "test": "test_dataloader"}

    def __init__(self, datamodule: Any) -> None:
        self.datamodule = datamodule
        self.cache: dict[str, Examples] = {}
        self.dataset_name = getattr(datamodule, "dataset_name", type(datamodule).__name__)

    def examples(self, split: str) -> Examples:
        if split not in self.cache:
            method = getattr(self.datamodule, self.LOADERS[split], None)
            if method is None:
                raise ValueError(f"{type(self.datamodule).__name__} has no {self.LOADERS[split]}()")
            batches = [labelled(batch) for batch in method()]
            x, y = zip(*batches, strict=True)
            self.cache[split] = Examples(torch.cat(x), torch.cat(y))
        return self.cache[split]


def labelled(batch: Any) -> tuple[Tensor, Tensor]:
    """A batch `(x, y, ...)`, `(x,)` or `x` as (x, y) on the CPU, y = -1 where there is no label."""
    if isinstance(batch, list | tuple):
        x, y = batch[0], batch[1] if len(batch) > 1 else None
    else:
        x, y = batch, None
    x = x.detach().cpu()
    if y is None:
        return x, torch.full((x.shape[0],), NO_LABEL, dtype=torch.int64)
    return x, y.detach().cpu().long().reshape(-1)


def evaluation_data(datamodule: Any) -> EvaluationData:
    """`datamodule` itself if it has `examples(split)`, else a reader of its loaders (which keeps each split
    it reads: hold on to it to read once)."""
    if callable(getattr(datamodule, "examples", None)):
        return datamodule
    return LoaderExamples(datamodule)
