"""The paper's evaluation, as Lightning callbacks (config group `metrics`).

Each metric scores the model on a whole evaluation set, every n validation epochs (`val/<key>`) and/or at
test (`test/<key>`), identically with one process or many (`sharding`); where its numbers came from goes to
`summary.json`. The estimators are plain functions beside their callbacks, usable on their own.

| callback | logged keys |
| --- | --- |
| `FullMMD` | `mmd_full` |
| `LogDetCovariance` | `logdet_cov_per_dim` |
| `LatentUsage` | `kl`, `mi`, `active_units` |
| `ImportanceSampledNLL` | `nll_is` |
| `SemiSupervisedAccuracy` | `semisup_acc_<N>` |
| `ClassDistributionCE` | `class_dist_ce`, `class_dist_empty` |
| `Pictures` | images: `samples`, `reconstructions`, `latent_space` |
"""

from infovae_lightning.metrics.class_dist import ClassDistributionCE
from infovae_lightning.metrics.evaluation import EvaluationCallback, EvaluationError
from infovae_lightning.metrics.latent_usage import LatentUsage
from infovae_lightning.metrics.logdet import LogDetCovariance
from infovae_lightning.metrics.mmd_full import FullMMD
from infovae_lightning.metrics.nll import ImportanceSampledNLL
from infovae_lightning.metrics.pictures import Pictures
from infovae_lightning.metrics.semisup import SemiSupervisedAccuracy

__all__ = [
    "ClassDistributionCE",
    "EvaluationCallback",
    "EvaluationError",
    "FullMMD",
    "ImportanceSampledNLL",
    "LatentUsage",
    "LogDetCovariance",
    "Pictures",
    "SemiSupervisedAccuracy",
]
