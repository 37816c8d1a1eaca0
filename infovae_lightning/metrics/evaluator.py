"""The one evaluation callback: runs the metrics that are due, on one encoding of each split, and logs them.

    trainer = L.Trainer(callbacks=[Evaluator([FullMMD(), LogDetCovariance(), LatentUsage()])])

The `Evaluator` counts validation epochs, picks the metrics due (each `Metric` has its own schedule), builds
each split's encoding q(z|x) once for them and logs their values as `val/<key>` or `test/<key>`. It is the
only producer of those keys: two metrics logging the same key are refused. Where each number came from and how
long it took is kept in `records` and `seconds` (written to `summary.json` by the training entry point).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from infovae_lightning.metrics.evaluation import (
    Encoding,
    EncodingKey,
    Evaluation,
    EvaluationError,
    Metric,
)
from infovae_lightning.protocols import EvaluationData, evaluation_data


def last_validation_of_fit(trainer: L.Trainer) -> bool:
    """Whether this validation ends training (max_epochs or max_steps reached, or a stop asked for): a
    scheduled metric then runs whatever its period, so that every run ends with its values."""
    if trainer.max_steps is not None and trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps:
        return True
    if trainer.should_stop:  # early stopping, max_time or a signal (see `preemption`) asked fit to end
        return True
    last_epoch = trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs > 0
    return last_epoch and trainer.is_last_batch


class Evaluator(Callback):
    """Scores the model with `metrics`, each at its own schedule, sharing one encoding per split and seed.

    Args:
        metrics: the metrics to run (each a `Metric`; their names must differ).
        seed: the noise of every metric whose own `seed` is None (a run passes its `seed`).
    """

    def __init__(self, metrics: Iterable[Metric], seed: int = 0) -> None:
        self.metrics = list(metrics)
        for metric in self.metrics:
            if not isinstance(metric, Metric):
                raise EvaluationError(f"the Evaluator takes Metric objects, got a {type(metric).__name__}")
        names = [metric.name for metric in self.metrics]
        if len(set(names)) != len(names):
            raise EvaluationError(f"the Evaluator takes each metric once, got {names}")
        self.seed = seed
        self.val_runs = 0  # validation epochs of fit seen (checkpointed, so a resumed run keeps the schedule)
        self.records: dict[str, dict[str, Any]] = {}  # logged key -> where it came from, time spent, step
        self.seconds: dict[str, dict[str, float]] = {name: {"val": 0.0, "test": 0.0} for name in names}
        self.evaluated: dict[str, dict[str, int]] = {name: {} for name in names}  # name -> stage -> step
        self.final_of_fit = False  # set by `final_evaluation.finish_fit` for the validate that ends a fit
        self._data: dict[int, tuple[Any, EvaluationData]] = {}

    # --- the parts -----------------------------------------------------------------------------------

    def data(self, datamodule: Any) -> EvaluationData:
        """The examples of `datamodule`, read once for this evaluator (a user's data module: its loaders)."""
        kept = self._data.get(id(datamodule))
        if kept is None or kept[0] is not datamodule:
            kept = (datamodule, evaluation_data(datamodule))
            self._data[id(datamodule)] = kept
        return kept[1]

    def evaluation(
        self,
        trainer: L.Trainer,
        model: L.LightningModule,
        metric: Metric,
        stage: str,
        encodings: dict[EncodingKey, Encoding] | None = None,
    ) -> Evaluation:
        """What `metric` evaluates at `stage`: its data, examples, chunks, seed and the shared encodings."""
        datamodule = metric.eval_data if metric.eval_data is not None else trainer.datamodule
        seed = self.seed if metric.seed is None else metric.seed
        return Evaluation(
            trainer,
            model,
            stage,
            datamodule,
            metric.max_examples,
            metric.chunk_size,
            seed,
            data=self.data(datamodule),
            encodings=encodings,
        )

    def evaluated_at(self, metric: Metric, stage: str) -> int | None:
        """The global step of `metric`'s latest evaluation at `stage` (None: not evaluated yet)."""
        return self.evaluated[metric.name].get(stage)

    def stale(self, step: int) -> list[Metric]:
        """The metrics scheduled during fit whose latest validation values are not of step `step`."""
        return [m for m in self.metrics if m.every_n_val_epochs and self.evaluated_at(m, "val") != step]

    # --- Lightning hooks ------------------------------------------------------------------------------

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        eval_data = {id(m.eval_data): m.eval_data for m in self.metrics if m.eval_data is not None}
        if eval_data:
            if trainer.local_rank == 0:
                for datamodule in eval_data.values():
                    datamodule.prepare_data()  # may download: once per machine, the others wait
            trainer.strategy.barrier("infovae_eval_data")
        for metric in self.metrics:
            if metric.eval_data is None and trainer.datamodule is None:
                raise EvaluationError(
                    f"{metric.name} reads whole splits from a data module: fit with datamodule= or give "
                    "eval_data"
                )
            metric.check(pl_module, trainer.datamodule)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if trainer.state.fn == "validate":  # a one-off `trainer.validate(...)`: every metric...
            # ...unless it completes a fit: then only the scheduled metrics not taken on these weights yet.
            due = self.stale(trainer.global_step) if self.final_of_fit else self.metrics
        else:
            self.val_runs += 1
            last = last_validation_of_fit(trainer)
            due = [m for m in self.metrics if m.due_in_fit(self.val_runs, last)]
        self.run(trainer, pl_module, "val", due)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.run(trainer, pl_module, "test", [m for m in self.metrics if m.at_test])

    def state_dict(self) -> dict[str, Any]:
        return {"val_runs": self.val_runs}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.val_runs = int(state_dict.get("val_runs", 0))

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """A checkpoint written when each metric was a callback of its own keeps its count of validations
        under the metric's class name: the schedule continues from it (`load_state_dict` runs next)."""
        states = checkpoint.get("callbacks") or {}
        legacy = [states.get(type(m).__qualname__) for m in self.metrics]
        counts = [int(s.get("val_runs", 0)) for s in legacy if isinstance(s, dict)]
        if counts and self.state_key not in states:
            self.val_runs = max(counts)

    # --- running --------------------------------------------------------------------------------------

    def run(
        self, trainer: L.Trainer, model: L.LightningModule, stage: str, metrics: Iterable[Metric]
    ) -> dict[str, float]:
        """Evaluates `metrics` now, logs `{stage}/{key}` for every value, records provenance; returns the
        values. The encodings built for one metric serve the next ones."""
        encodings: dict[EncodingKey, Encoding] = {}
        logged: dict[str, float] = {}
        for metric in metrics:
            start = time.perf_counter()
            evaluation = self.evaluation(trainer, model, metric, stage, encodings)
            with torch.inference_mode():
                values = metric.evaluate(evaluation)
            seconds = time.perf_counter() - start
            self.seconds[metric.name][stage] += seconds
            self.evaluated[metric.name][stage] = trainer.global_step
            provenance = {
                "metric": metric.name,
                "set": evaluation.description,
                **evaluation.notes,
                "seconds": round(seconds, 4),
                "step": trainer.global_step,
            }
            for key, value in values.items():
                name = f"{stage}/{key}"
                producer = self.records.get(name, provenance)["metric"]
                if producer != metric.name:
                    raise EvaluationError(f"{metric.name} and {producer} both log {name}: drop one of them")
                # Every rank holds the same value (see `sharding`), so syncing with max is exact.
                model.log(name, float(value), sync_dist=True, reduce_fx="max")
                self.records[name] = provenance
                logged[name] = float(value)
            if not values and evaluation.notes:  # a metric without numbers (pictures): where its output went
                self.records[f"{stage}/{metric.name}"] = provenance
        return logged
