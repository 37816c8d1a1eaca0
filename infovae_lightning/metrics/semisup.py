"""`semisup_acc_<N>`: how linearly readable the class is from the latent code, with N labels.

The paper's semi-supervised test: fit a linear classifier on the latent means E[z|x] of N labelled
examples and report its accuracy on held-out examples. A latent that ignores x scores chance (10% on
MNIST); one that separates the classes scores high even with few labels. The labelled examples come from
the evaluation data's training split (drawn with the metric's seed, the same for every model compared),
the held-out ones are the split being evaluated (val or test).
"""

from __future__ import annotations

import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor
from torchmetrics.functional.classification import multiclass_accuracy

from infovae_lightning.metrics.evaluation import Evaluation, EvaluationError, Metric
from infovae_lightning.protocols import encode, latent_dim


def linear_probe_accuracy(train_z: Tensor, train_y: Tensor, test_z: Tensor, test_y: Tensor) -> float:
    """Test accuracy of an L2-regularised multinomial logistic regression on standardised features (scored
    by torchmetrics' `multiclass_accuracy`, micro average: correct / total)."""
    if len(torch.unique(train_y)) < 2:
        raise EvaluationError("a linear probe needs labelled examples of at least two classes")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(train_z.double().cpu().numpy(), train_y.cpu().numpy())
    predicted = torch.as_tensor(probe.predict(test_z.double().cpu().numpy()))
    target = test_y.cpu().long()
    num_classes = int(max(predicted.max(), target.max())) + 1
    return float(multiclass_accuracy(predicted, target, num_classes=num_classes, average="micro"))


def budget_name(budget: int | str) -> str:
    return f"semisup_acc_{budget}"


class SemiSupervisedAccuracy(Metric):
    """Logs `semisup_acc_<N>` for each label budget N in `budgets` (an int, or "all" for the whole pool).

    Needs labels: on unlabelled data (binarized MNIST) set `eval_data` to a labelled set (labelled MNIST
    binarized the same way: the `eval_data=mnist` config). A probe per budget: by default at test only.
    """

    name = "semisup_acc"

    def __init__(
        self,
        budgets: list[int | str] | None = None,
        every_n_val_epochs: int | None = None,
        chunk_size: int = 1000,
        **kwargs,
    ) -> None:
        super().__init__(every_n_val_epochs=every_n_val_epochs, chunk_size=chunk_size, **kwargs)
        budgets = list(budgets) if budgets is not None else [100, 1000, "all"]
        for budget in budgets:
            if budget != "all" and not (isinstance(budget, int) and budget >= 2):
                raise ValueError(f"semisup_acc: a label budget is an int >= 2 or 'all', got {budget!r}")
        self.budgets = budgets

    def evaluate(self, evaluation: Evaluation) -> dict[str, float]:
        test_y = evaluation.labels()
        pool, description = evaluation.labelled_pool()
        evaluation.notes["labelled_pool"] = description
        model = evaluation.model
        pool_z = evaluation.map(
            lambda rows, _: encode(model, pool.x[rows].to(evaluation.device)).mean,
            (latent_dim(model),),
            n=len(pool),
        )
        test_z = evaluation.encoding.mean
        order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(evaluation.seed))
        values = {}
        for budget in self.budgets:
            if budget != "all" and budget > len(pool):
                raise EvaluationError(
                    f"semisup_acc: budget {budget} exceeds the {len(pool)} labelled examples of the pool"
                )
            chosen = order if budget == "all" else order[:budget]
            values[budget_name(budget)] = linear_probe_accuracy(
                pool_z[chosen], pool.y[chosen], test_z, test_y
            )
        return values
