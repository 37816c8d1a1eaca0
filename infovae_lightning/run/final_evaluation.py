"""The final weights are always evaluated and checkpointed, whatever ends `fit`.

Lightning validates at the end of an epoch, or when `trainer.should_stop` is set (early stopping, `max_time`,
a signal: see `preemption`), but not when `max_steps` ends `fit` in the middle of an epoch: such a run would
end without a validation loss, a metric, or a checkpoint of its last steps. `FinalValidation` asks Lightning
to stop (and so to validate) at `max_steps`; `finish_fit` then covers what is left after `fit`: a validation
or a scheduled metric not taken at the final step (early stopping decides after the metrics ran), and a
`last.ckpt` older than the final weights (validation turned off).
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from infovae_lightning.metrics import Evaluator
from infovae_lightning.run.checkpoints import LatestCheckpoint


class FinalValidation(Callback):
    """Stops `fit` through `should_stop` at `max_steps` (so it validates there); records the step of the
    last validation of `fit` and of the last checkpoint written."""

    def __init__(self) -> None:
        self.validated_at: int | None = None
        self.saved_at: int | None = None

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.max_steps is not None and 0 < trainer.max_steps <= trainer.global_step:
            trainer.should_stop = True

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.validated_at = trainer.global_step

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self.saved_at = trainer.global_step


def validation_enabled(trainer: L.Trainer) -> bool:
    """Whether `fit` validates at all (`limit_val_batches=0` turns it off)."""
    return bool(trainer.num_val_batches) and any(n > 0 for n in trainer.num_val_batches)


def finish_fit(
    trainer: L.Trainer, model: L.LightningModule, datamodule: L.LightningDataModule, callbacks: list[Any]
) -> bool:
    """After `fit`: `last.ckpt` holds the final weights, and the validation and every scheduled metric were
    taken on them (a `trainer.validate` runs those that were not). Returns whether it validated."""
    final = next(cb for cb in callbacks if isinstance(cb, FinalValidation))
    step = trainer.global_step
    latest = [cb for cb in callbacks if isinstance(cb, LatestCheckpoint)]
    if latest and latest[0].dirpath and final.saved_at != step:
        trainer.save_checkpoint(latest[0].path)
        latest[0].best_model_path = str(latest[0].path)
    if step == 0 or not validation_enabled(trainer):
        return False
    evaluators = [cb for cb in callbacks if isinstance(cb, Evaluator)]
    if final.validated_at == step and not any(evaluator.stale(step) for evaluator in evaluators):
        return False
    for evaluator in evaluators:
        evaluator.final_of_fit = True  # in this validate: only the scheduled metrics not taken at this step
    try:
        trainer.validate(model, datamodule=datamodule, verbose=False)
    finally:
        for evaluator in evaluators:
            evaluator.final_of_fit = False
    return True
