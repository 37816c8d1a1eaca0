"""Hydra schemas of the metrics, generated from their signatures: a metric's arguments are its config keys.

`conf/metrics/<name>.yaml` extends `/schema/metrics/<Class>`, so `metrics.<name>.<argument>=...` is settable
for every argument of the class (and of `Metric`, e.g. `every_n_val_epochs`) with the default of its
signature, and a misspelled key or a wrong type fails when the config is composed. The defaults live in the
Python signatures only.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

import infovae_lightning.metrics as metrics_package
from infovae_lightning.metrics import Metric
from infovae_lightning.run.schemas import import_path, make_schema


def schema(cls: type) -> type:
    """A dataclass of `cls`'s keyword arguments (and `Metric`'s) with their defaults; `_target_` names it."""
    return make_schema(
        f"{cls.__name__}Conf", [(cls, "")], fixed={"_target_": import_path(cls)}, module=__name__
    )


def metric_classes() -> list[type[Metric]]:
    """The metrics `infovae_lightning.metrics` exports."""
    exported = (getattr(metrics_package, name) for name in metrics_package.__all__)
    return [
        cls for cls in exported if isinstance(cls, type) and issubclass(cls, Metric) and cls is not Metric
    ]


def register_metric_schemas() -> None:
    cs = ConfigStore.instance()
    for cls in metric_classes():
        node = schema(cls)
        globals()[node.__name__] = node  # composed configs name their schema: pickled for launchers' workers
        cs.store(group="schema/metrics", name=cls.__name__, node=node)


register_metric_schemas()
