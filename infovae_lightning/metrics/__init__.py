"""The paper's evaluation (config group `metrics`): metric objects run by one Lightning callback, `Evaluator`.

Each metric scores the model on a whole evaluation set, every n validation epochs (`val/<key>`) and/or at
test (`test/<key>`), identically with one process or many (`sharding`); the evaluator encodes each split once
for the metrics due, logs their values and keeps where each number came from (`records`, in `summary.json`).
The estimators are plain functions beside their metrics, usable on their own.

Any LightningModule with the attributes of `infovae_lightning.protocols` (encoder, decoder, latent_dim) can be
scored by adding one callback to its Trainer:

    trainer = L.Trainer(callbacks=[Evaluator([FullMMD(), LogDetCovariance(), LatentUsage()], seed=0)])

| metric | logged keys |
| --- | --- |
| `FullMMD` | `mmd_full` |
| `LogDetCovariance` | `logdet_cov_per_dim` |
| `LatentUsage` | `kl_full`, `mi`, `active_units` |
| `ImportanceSampledNLL` | `nll_is`, `nll_is_bpd` |
| `SemiSupervisedAccuracy` | `semisup_acc_<N>` |
| `ClassDistributionCE` | `class_dist_ce`, `class_dist_empty` |
| `Pictures` | images: `samples`, `reconstructions`, `latent_space` |

A new metric subclasses `Metric` (its `evaluate`, and `check` if it can refuse a model or data) and gets a
`conf/metrics/<name>.yaml` naming it; its arguments are its config keys.
"""

from infovae_lightning.metrics.class_dist import ClassDistributionCE
from infovae_lightning.metrics.evaluation import Evaluation, EvaluationError, Metric
from infovae_lightning.metrics.evaluator import Evaluator
from infovae_lightning.metrics.latent_usage import LatentUsage
from infovae_lightning.metrics.logdet import LogDetCovariance
from infovae_lightning.metrics.mmd_full import FullMMD
from infovae_lightning.metrics.nll import ImportanceSampledNLL
from infovae_lightning.metrics.pictures import Pictures
from infovae_lightning.metrics.semisup import SemiSupervisedAccuracy

__all__ = [
    "ClassDistributionCE",
    "Evaluation",
    "EvaluationError",
    "Evaluator",
    "FullMMD",
    "ImportanceSampledNLL",
    "LatentUsage",
    "LogDetCovariance",
    "Metric",
    "Pictures",
    "SemiSupervisedAccuracy",
]
