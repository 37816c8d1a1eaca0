"""`class_dist_ce`: do generated samples cover the classes as often as the data does? (the paper's
sample-quality metric).

A pretrained classifier (`infovae-classifier`, see `classifier.py`) labels N samples x ~ p(z)p(x|z); with ĉ
their class frequencies and c the data's,

    class_dist_ce = −cᵀ(log ĉ − log c) = KL(c ‖ ĉ),

0 when the model generates every class as often as the data holds it, large when it drops or favours
classes (a model whose q(z) misses parts of the prior generates garbage, or the same few classes, there).

Empty classes: if some class k with c_k > 0 is never predicted, ĉ_k = 0 and the value would be +∞ whatever
else happened, which makes models incomparable. We therefore give every empty class half a count
(ĉ ∝ max(nₖ, ½)) and log how many classes were empty as `class_dist_empty`. When no class is empty this
changes nothing; otherwise the value is finite, still grows with every missing class, and is bounded by
about log(2N)·c_k per missing class. Classes absent from the data (c_k = 0) contribute 0 (0·log 0 = 0).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor

from infovae_lightning.metrics.classifier import load_classifier
from infovae_lightning.metrics.evaluation import Evaluation, EvaluationError, Metric
from infovae_lightning.protocols import decoded_mean, evaluation_data, latent_dim

EMPTY_CLASS_COUNT = 0.5


def class_distribution_ce(real: Tensor, predicted: Tensor, num_classes: int) -> tuple[float, int]:
    """(−cᵀ(log ĉ − log c), number of empty classes) for data class probabilities `real` [K] and the
    predicted labels [N] of generated samples; empty classes get `EMPTY_CLASS_COUNT` counts."""
    real = real.double()
    if real.shape != (num_classes,) or (real < 0).any() or abs(real.sum().item() - 1) > 1e-6:
        raise ValueError(f"real must be a probability vector of length {num_classes}")
    # Counted where `real` is (the CPU: labels): the predictions come from the model's device.
    counts = torch.bincount(predicted.long().flatten().to(real.device), minlength=num_classes).double()
    empty = int(((counts == 0) & (real > 0)).sum())
    counts = counts.clamp_min(EMPTY_CLASS_COUNT)
    generated = counts / counts.sum()
    present = real > 0
    ce = -(real[present] * (generated[present].log() - real[present].log())).sum()
    return ce.item(), empty


def class_frequencies(labels: Tensor, num_classes: int) -> Tensor:
    return torch.bincount(labels.long(), minlength=num_classes).double() / labels.numel()


class ClassDistributionCE(Metric):
    """Logs `class_dist_ce` (and `class_dist_empty`) for `num_samples` generated images.

    Args (beyond `Metric`): `classifier`, the path of a classifier made by `infovae-classifier`
    for the run's data (loaded with `weights_only=True`; a missing or mismatched one fails at setup, before
    training). c is the class distribution of the evaluation set (its labels: on binarized MNIST set
    `eval_data=mnist`). Samples are E[x|z] for z ~ p(z), as in the sample grids: the decoder's mean image
    (for an autoregressive decoder, a sample), which the classifier is trained to read in grey or binary.
    """

    name = "class_dist_ce"

    def __init__(
        self,
        classifier: str,
        num_samples: int = 10000,
        every_n_val_epochs: int | None = None,
        chunk_size: int = 1000,
        **kwargs,
    ) -> None:
        super().__init__(every_n_val_epochs=every_n_val_epochs, chunk_size=chunk_size, **kwargs)
        if num_samples < 1:
            raise ValueError(f"class_dist_ce: num_samples must be >= 1, got {num_samples}")
        self.classifier_path = classifier
        self.num_samples = num_samples
        self.classifier: torch.nn.Module | None = None
        self.classifier_meta: dict = {}

    def check(self, model: L.LightningModule, datamodule: Any) -> None:
        data = getattr(datamodule, "dataset_name", None)
        if data is None:
            raise EvaluationError(
                "class_dist_ce needs a data module with a dataset_name (the domain of its classifier)"
            )
        shape = model.hparams.get("input_shape")
        if shape is None:  # a user's model: the shape of the data it is evaluated on
            shape = list(evaluation_data(datamodule).examples("val").x.shape[1:])
        classifier, meta = load_classifier(self.classifier_path, data, shape)
        self.classifier = classifier.to(model.device).eval()
        self.classifier_meta = meta

    def evaluate(self, evaluation: Evaluation) -> dict[str, float]:
        assert self.classifier is not None, "setup() loads the classifier"
        classifier = self.classifier.to(evaluation.device)
        model = evaluation.model
        num_classes = int(self.classifier_meta["num_classes"])
        real = class_frequencies(evaluation.labels(), num_classes)

        def predict(rows: slice, generator: torch.Generator) -> Tensor:
            shape = (rows.stop - rows.start, latent_dim(model))
            z = torch.randn(shape, generator=generator, device=evaluation.device)
            return classifier(decoded_mean(model, z)).argmax(dim=-1)

        predicted = evaluation.map(predict, (), dtype=torch.int64, n=self.num_samples)
        ce, empty = class_distribution_ce(real, predicted, num_classes)
        accuracy = self.classifier_meta.get("test_accuracy")
        evaluation.notes["classifier"] = f"{self.classifier_path} (test accuracy {accuracy})"
        evaluation.notes["generated"] = f"{self.num_samples} samples E[x|z], z ~ p(z)"
        return {self.name: ce, "class_dist_empty": empty}
