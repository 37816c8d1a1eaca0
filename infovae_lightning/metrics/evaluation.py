"""The base of every evaluation metric: a Lightning callback that scores the model on a whole data set.

A metric runs every `every_n_val_epochs` validation epochs (logged as `val/<key>`, on the validation
split) and/or at `trainer.test` (`test/<key>`, on the test split). It reads the split straight from memory,
not through the validation loop, so that it sees every example exactly once whatever the number of
processes (see `sharding`), and so that its own noise is fixed: each metric is a deterministic function
of the weights, and its changes across epochs are the model's, not the estimator's.

The model and data need only what `infovae_lightning.protocols` lists (an encoder to q(z|x), a decoder, the
latent dimension; a data module with loaders), so the metrics score a user's own LightningModule and
DataModule as well as ours. The evaluation set is, by default, the run's own data. `eval_data` (another data
module) replaces it, e.g. labelled MNIST for class-aware metrics of a model trained on binarized MNIST.
Which set each number came from, and how long it took, is kept in `records` and written to `summary.json`.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from infovae_lightning.data.examples import NO_LABEL, Examples
from infovae_lightning.data.registry import dataset_names, selectable_sources
from infovae_lightning.errors import InfoVAEError
from infovae_lightning.metrics.sharding import ChunkFn, Shards, map_chunks
from infovae_lightning.protocols import encode, evaluation_data, is_deterministic, latent_dim

SPLIT_OF_STAGE = {"val": "val", "test": "test"}


class EvaluationError(InfoVAEError, ValueError):
    """A metric cannot be computed for this model or data; the message says why and what to change."""


@dataclass(frozen=True)
class Encoding:
    """q(z|x) over the evaluation set: means, standard deviations (None: point masses) and one sample each."""

    mean: Tensor
    std: Tensor | None
    z: Tensor


# The last encoding of each model, shared by the metrics of one validation/test epoch end; cleared when an
# epoch starts (the weights only change between epochs), so it never outlives the weights it encodes.
_ENCODINGS: weakref.WeakKeyDictionary[L.LightningModule, tuple[tuple, Encoding]] = weakref.WeakKeyDictionary()


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
    ) -> None:
        self.trainer = trainer
        self.model = model
        self.stage = stage
        self.datamodule = datamodule
        self.split = SPLIT_OF_STAGE[stage]
        self.data = evaluation_data(datamodule)
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

        Metrics evaluating the same set with the same seed at the same epoch end share one encoding.
        """
        key = (id(self.datamodule), self.split, len(self), self.chunk_size, self.seed)
        cached = _ENCODINGS.get(self.model)
        if cached is not None and cached[0] == key:
            return cached[1]
        encoding = self._encode()
        _ENCODINGS[self.model] = (key, encoding)
        return encoding

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


def last_validation_of_fit(trainer: L.Trainer) -> bool:
    """Whether this validation ends training (max_epochs or max_steps reached, or a stop asked for): a
    scheduled metric then runs whatever its period, so that every run ends with its values."""
    if trainer.max_steps is not None and trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps:
        return True
    if trainer.should_stop:  # early stopping, max_time or a signal (see `preemption`) asked fit to end
        return True
    last_epoch = trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs > 0
    return last_epoch and trainer.is_last_batch


def require_labels(examples: Examples, description: str) -> Tensor:
    if bool((examples.y == NO_LABEL).any()):
        raise EvaluationError(
            f"{description} has no labels; evaluate on a labelled set with eval_data=mnist "
            "(labelled MNIST, binarized like binarized MNIST)"
        )
    return examples.y


class EvaluationCallback(Callback):
    """Scores the model on a whole evaluation set, at a chosen schedule; subclasses define `evaluate`.

    Args:
        every_n_val_epochs: run after every n-th validation epoch of `fit`, and after the last one (None:
            never during fit).
        at_test: run at the end of `trainer.test`.
        eval_data: evaluate on this data module's splits instead of the run's (any data module: see
            `infovae_lightning.protocols`).
        max_examples: use only the first n examples of the split (None: all of them).
        chunk_size: examples per forward pass (memory is bounded by it, not by the set's size).
        seed: fixes the metric's own noise (posterior and prior samples), independently of training.
    """

    name: ClassVar[str] = "metric"

    def __init__(
        self,
        every_n_val_epochs: int | None = 1,
        at_test: bool = True,
        eval_data: L.LightningDataModule | None = None,
        max_examples: int | None = None,
        chunk_size: int = 500,
        seed: int = 0,
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
        self.val_runs = 0  # validation epochs seen (saved in checkpoints so a resumed run keeps the schedule)
        self.records: dict[str, dict[str, Any]] = {}  # logged key -> where it came from, time spent
        self.seconds: dict[str, float] = {"val": 0.0, "test": 0.0}
        self.final_of_fit = False  # set by `final_evaluation.finish_fit` for the validate that ends a fit

    # --- to implement ------------------------------------------------------------------------------------

    def check(self, trainer: L.Trainer, model: L.LightningModule) -> None:
        """Raise `EvaluationError` if the metric cannot apply to this model or data (before training)."""

    def evaluate(self, evaluation: Evaluation) -> dict[str, float]:
        """The metric's values on `evaluation`, keyed by the name they are logged under (without stage)."""
        raise NotImplementedError

    # --- Lightning hooks ------------------------------------------------------------------------------

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.eval_data is not None:
            if trainer.local_rank == 0:
                self.eval_data.prepare_data()  # may download: once per machine, the others wait
            trainer.strategy.barrier("infovae_eval_data")
        elif trainer.datamodule is None:
            raise EvaluationError(
                f"{self.name} reads whole splits from a data module: fit with datamodule= or give eval_data"
            )
        self.check(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if trainer.state.fn == "validate":  # a one-off `trainer.validate(...)`: always evaluate...
            # ...unless it completes a fit: then only a scheduled metric not taken on these weights yet.
            if not self.final_of_fit or (
                self.every_n_val_epochs and self.evaluated_at("val") != trainer.global_step
            ):
                self.run(trainer, pl_module, "val")
            return
        self.val_runs += 1
        if self.every_n_val_epochs and (
            self.val_runs % self.every_n_val_epochs == 0 or last_validation_of_fit(trainer)
        ):
            self.run(trainer, pl_module, "val")

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        _ENCODINGS.pop(pl_module, None)

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        _ENCODINGS.pop(pl_module, None)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at_test:
            self.run(trainer, pl_module, "test")

    def evaluated_at(self, stage: str) -> int | None:
        """The global step of this metric's latest values for `stage` (None: not evaluated yet)."""
        steps = [rec["step"] for key, rec in self.records.items() if key.startswith(f"{stage}/")]
        return max(steps) if steps else None

    def state_dict(self) -> dict[str, Any]:
        return {"val_runs": self.val_runs}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.val_runs = int(state_dict.get("val_runs", 0))

    # --- running --------------------------------------------------------------------------------------

    def run(self, trainer: L.Trainer, model: L.LightningModule, stage: str) -> dict[str, float]:
        """Evaluates now, logs `{stage}/{key}` for every value, records provenance; returns the values."""
        start = time.perf_counter()
        datamodule = self.eval_data if self.eval_data is not None else trainer.datamodule
        evaluation = Evaluation(
            trainer, model, stage, datamodule, self.max_examples, self.chunk_size, self.seed
        )
        with torch.inference_mode():
            values = self.evaluate(evaluation)
        seconds = time.perf_counter() - start
        self.seconds[stage] += seconds
        provenance = {
            "metric": self.name,
            "set": evaluation.description,
            **evaluation.notes,
            "seconds": round(seconds, 4),
            "step": trainer.global_step,
        }
        for key, value in values.items():
            # Every rank holds the same value (see `sharding`), so syncing with max is exact.
            model.log(f"{stage}/{key}", float(value), sync_dist=True, reduce_fx="max")
            self.records[f"{stage}/{key}"] = provenance
        if not values and evaluation.notes:  # a metric without numbers (pictures): where its output went
            self.records[f"{stage}/{self.name}"] = provenance
        return values
