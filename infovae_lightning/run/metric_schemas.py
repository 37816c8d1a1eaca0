"""Hydra schemas of the metrics, generated from their signatures: a metric's arguments are its config keys.

`conf/metrics/<name>.yaml` extends `/schema/metrics/<Class>`, so `metrics.<name>.<argument>=...` is settable
for every argument of the class (and of `Metric`, e.g. `every_n_val_epochs`) with the default of its
signature, and a misspelled key or a wrong type fails when the config is composed. The defaults live in the
Python signatures only.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

import infovae_lightning.metrics as metrics_package
from infovae_lightning.metrics import Metric

SKIPPED = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def arguments(cls: type) -> dict[str, tuple[Any, Any]]:
    """name -> (annotation, default) of every keyword `cls(...)` takes, following `**kwargs` up the classes
    it inherits from; a subclass's default wins."""
    found: dict[str, tuple[Any, Any]] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        hints = typing.get_type_hints(init)
        for name, param in list(inspect.signature(init).parameters.items())[1:]:
            if param.kind not in SKIPPED and name not in found:
                default = MISSING if param.default is inspect.Parameter.empty else param.default
                found[name] = (hints.get(name, Any), default)
    return found


def config_type(annotation: Any) -> Any:
    """`annotation` where OmegaConf can check values of it, else `Any` (e.g. a data module)."""
    if "|" in str(annotation) or "Union" in str(annotation):  # a union node would reach the metric as a node
        return Any
    probe = dataclasses.make_dataclass("Probe", [("value", annotation, MISSING)])
    try:
        OmegaConf.structured(probe)
    except Exception:  # OmegaConf refuses the type: the value is left unchecked
        return Any
    return annotation


def schema(cls: type) -> type:
    """A dataclass of `cls`'s keyword arguments with their defaults, and `_target_` naming `cls`."""
    fields: list[tuple[str, Any, Any]] = [
        ("_target_", str, dataclasses.field(default=f"{metrics_package.__name__}.{cls.__name__}"))
    ]
    for name, (annotation, default) in arguments(cls).items():
        if isinstance(default, list | dict):
            value = dataclasses.field(default_factory=lambda default=default: type(default)(default))
        else:
            value = dataclasses.field(default=default)
        fields.append((name, config_type(annotation), value))
    node = dataclasses.make_dataclass(f"{cls.__name__}Conf", fields)
    node.__module__ = __name__
    return node


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
