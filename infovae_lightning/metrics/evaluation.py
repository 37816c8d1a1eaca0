"""What every evaluation metric is: a plain object that scores the model on a whole split, with its schedule.

A `Metric` runs every `every_n_val_epochs` validation epochs (logged as `val/<key>`, on the validation
split) and/or at `trainer.test` (`test/<key>`, on the test split); the `Evaluator` callback decides when, and
hands it an `Evaluation`: the split, the process layout and the encoding q(z|x) of the split, built once per
evaluation and shared by the metrics that read it. A metric reads the split straight from memory, not through
the validation loop, so that it sees every example exactly once whatever the number of processes (see
`sharding`), and so that its own noise is fixed: each metric is a deterministic function of the weights, and
its changes across epochs are the model's, not the estimator's.

The model and data need only what `infovae_lightning.protocols` lists (an encoder to q(z|x), a decoder, the
latent dimension; a data module with loaders), so the metrics score a user's own LightningModule and
DataModule as well as ours. The evaluation set is, by default, the run's own data. `eval_data` (another data
module) replaces it, e.g. labelled MNIST for class-aware metrics of a model trained on binarized MNIST.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import lightning as L
import torch
from torch import Tensor

from infovae_lightning.data.examples import NO_LABEL, Examples
from infovae_lightning.data.registry import dataset_names, selectable_sources
from infovae_lightning.errors import InfoVAEError
from infovae_lightning.metrics.sharding import ChunkFn, Shards, map_chunks
from infovae_lightning.protocols import EvaluationData, encode, evaluation_data, is_deterministic, latent_dim

SPLIT_OF_STAGE = {"val": "val", "test": "test"}


class EvaluationError(InfoVAEError, ValueError):
    """A metric cannot be computed for this model or data; the message says why and what to change."""


@dataclass(frozen=True)
class Encoding:
    """q(z|x) over the evaluation set: means, standard deviations (None: point masses) and one sample each."""

    mean: Tensor
    std: Tensor | None
    z: Tensor


EncodingKey = tuple[int, str, int, int, int]
"""What an encoding depends on besides the weights: (data module id, split, examples, chunk size, seed)."""


def describe(datamodule: Any, split: str, n: int) -> str:
    """Where a number came from, e.g. "mnist (test file) val split, 1000 examples, binarize=dynamic"; for a
    user's data module, its class name."""
    name = getattr(datamodule, "dataset_name", None)
    if name is None:
        return f"{type(datamodule).__name__} {split} split, {n} examples"
    hp = datamodule.hparams
    if name in dataset_names() and len(selectable_sources(name)) > 1:  # say which official file was split
        name += f" ({hp.source} file)"
    binarize = f", binarize={hp.binarize}" if hp.get("binarize", "none") != "none" else ""
    return f"{name} {split} split, {n} examples{binarize}"


class Evaluation:
    """One evaluation of one model on one split: the data, the process layout, and shared helpers."""

    def __init__(
        self,
        trainer: L.Trainer,
        model: L.LightningModule,
        stage: str,
        datamodule: Any,
        max_examples: int | None,
        chunk_size: int,
        seed: int,
        data: EvaluationData | None = None,
        encodings: dict[EncodingKey, Encoding] | None = None,
    ) -> None:
        """`data`: the examples of `datamodule` (read from it when not given); `encodings`: those already
        built in this evaluation, shared with the other metrics (see `Evaluator`)."""
        self.trainer = trainer
        self.model = model
        self.stage = stage
        self.datamodule = datamodule
        self.split = SPLIT_OF_STAGE[stage]
        self.data = data if data is not None else evaluation_data(datamodule)
        self.encodings = encodings if encodings is not None else {}
        examples = self.data.examples(self.split)
        if max_examples is not None and max_examples < len(examples):
            examples = examples.take(torch.arange(max_examples))
        self.examples = examples
        self.description = describe(datamodule, self.split, len(examples))
        self.chunk_size = chunk_size
        self.seed = seed
        self.notes: dict[str, str] = {}  # provenance a metric adds, e.g. the labelled pool it used
        strategy = trainer.strategy
        self.shards = Shards(
            trainer.global_rank, trainer.world_size, lambda t: strategy.reduce(t, reduce_op="sum")
        )

    @property
    def device(self) -> torch.device:
        return self.model.device

    def __len__(self) -> int:
        return len(self.examples)

    def x(self, rows: slice | Tensor) -> Tensor:
        return self.examples.x[rows].to(self.device)

    def map(
        self,
        fn: ChunkFn,
        tail_shape: tuple[int, ...],
        dtype: torch.dtype = torch.float32,
        n: int | None = None,
    ) -> Tensor:
        """`fn` over fixed chunks of the set (or of `range(n)`), split across processes; the full result
        on every rank."""
        return map_chunks(
            fn,
            len(self) if n is None else n,
            tail_shape,
            self.shards,
            chunk_size=self.chunk_size,
            seed=self.seed,
            device=self.device,
            dtype=dtype,
        )

    @cached_property
    def encoding(self) -> Encoding:
        """Every x encoded, with one z ~ q(z|x) each (noise fixed by the seed, not the process).

        Metrics of one evaluation reading the same set with the same chunks and seed share one encoding.
        """
        key = (id(self.datamodule), self.split, len(self), self.chunk_size, self.seed)
        if key not in self.encodings:
            self.encodings[key] = self._encode()
        return self.encodings[key]

    def _encode(self) -> Encoding:
        d = latent_dim(self.model)
        deterministic = is_deterministic(self.model)

        def encode_rows(rows: slice, generator: torch.Generator) -> Tensor:
            q = encode(self.model, self.x(rows))
            std = torch.zeros_like(q.mean) if q.std is None else q.std
            eps = torch.randn(q.mean.shape, generator=generator, device=self.device, dtype=q.mean.dtype)
            return torch.cat([q.mean, std, q.mean + std * eps], dim=-1)

        out = self.map(encode_rows, (3 * d,))
        mean, std, z = out.split(d, dim=-1)
        return Encoding(mean, None if deterministic else std, z)

    def labels(self) -> Tensor:
        """The evaluation set's labels, or an `EvaluationError` if it has none."""
        return require_labels(self.examples, self.description)

    def labelled_pool(self) -> tuple[Examples, str]:
        """The labelled training split of the evaluation data (for a linear probe), and its description."""
        pool = self.data.examples("train")
        description = describe(self.datamodule, "train", len(pool))
        require_labels(pool, description)
        return pool, description


def require_labels(examples: Examples, description: str) -> Tensor:
    if bool((examples.y == NO_LABEL).any()):
        raise EvaluationError(
            f"{description} has no labels; evaluate on a labelled set with eval_data=mnist "
            "(labelled MNIST, binarized like binarized MNIST)"
        )
    return examples.y


class Metric:
    """A score of the model on a whole evaluation set, at a chosen schedule; subclasses define `evaluate`.

    A plain object, run by an `Evaluator` callback (which owns the schedule's bookkeeping), so that one
    encoding of a split serves every metric of an evaluation.

    Args:
        every_n_val_epochs: run after every n-th validation epoch of `fit`, and after the last one (None:
            never during fit).
        at_test: run at the end of `trainer.test`.
        eval_data: evaluate on this data module's splits instead of the run's (any data module: see
            `infovae_lightning.protocols`).
        max_examples: use only the first n examples of the split (None: all of them).
        chunk_size: examples per forward pass (memory is bounded by it, not by the set's size).
        seed: fixes the metric's own noise (posterior and prior samples), independently of training (None:
            the evaluator's seed).
    """

    name: ClassVar[str] = "metric"

    def __init__(
        self,
        every_n_val_epochs: int | None = 5,
        at_test: bool = True,
        eval_data: L.LightningDataModule | None = None,
        max_examples: int | None = None,
        chunk_size: int = 500,
        seed: int | None = None,
    ) -> None:
        if every_n_val_epochs is not None and every_n_val_epochs < 1:
            raise ValueError(
                f"{self.name}: every_n_val_epochs must be >= 1 or null, got {every_n_val_epochs}"
            )
        if max_examples is not None and max_examples < 1:
            raise ValueError(f"{self.name}: max_examples must be >= 1 or null, got {max_examples}")
        if chunk_size < 1:
            raise ValueError(f"{self.name}: chunk_size must be >= 1, got {chunk_size}")
        self.every_n_val_epochs = every_n_val_epochs
        self.at_test = at_test
        self.eval_data = eval_data
        self.max_examples = max_examples
        self.chunk_size = chunk_size
        self.seed = seed

    def check(self, model: L.LightningModule, datamodule: Any) -> None:
        """Raise `EvaluationError` if the metric cannot apply to this model or the run's data module (before
        training)."""

    def evaluate(self, evaluation: Evaluation) -> dict[str, float]:
        """The metric's values on `evaluation`, keyed by the name they are logged under (without stage)."""
        raise NotImplementedError

    def due_in_fit(self, val_runs: int, last: bool) -> bool:
        """Whether the `val_runs`-th validation of fit (`last`: the one ending it) evaluates this metric."""
        return bool(self.every_n_val_epochs) and (val_runs % self.every_n_val_epochs == 0 or last)
