"""The registry of models: one `ModelSpec` per member of the InfoVAE family, registered by the module that
defines its class.

A model is an `InfoVAE` subclass that overrides `divergence(z)`. Its `spec.name` is the Hydra schema
`/schema/model/<name>` that `conf/model/<name>.yaml` extends; `run.config` generates that schema from the
class's signature when the model is registered, so a new divergence is two files:

1. `infovae_lightning/models/<name>.py`: the class and `register_model(ModelSpec("<name>", <Class>))`
   (the estimator may sit in the same module, or in `divergences/` when other models reuse it);
2. `conf/model/<name>.yaml`: `defaults: [/schema/model/<name>@_here_, _self_]` and the values that differ
   from the signature's, each with its source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    """A model class under a config name.

    Args:
        name: `/schema/model/<name>`, the schema its preset YAML extends.
        cls: the `InfoVAE` subclass.
        schema_name: the schema's class name, which Hydra's messages show ("Key 'lamm' not in 'MMDConf'");
            default `<cls.__name__>Conf`.
        unused_parameters: a backward pass leaves some parameters without gradient (the AAE's two players),
            which DDP must be told (`find_unused_parameters`).
    """

    name: str
    cls: type
    schema_name: str | None = None
    unused_parameters: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"a model's name must be an identifier (a config name), got {self.name!r}")

    @property
    def schema(self) -> str:
        return self.schema_name or f"{self.cls.__name__}Conf"


_MODELS: dict[str, ModelSpec] = {}
_LISTENERS: list[Callable[[ModelSpec], None]] = []


def register_model(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Adds `spec` under `spec.name` (refusing to replace another record unless `replace`); returns it."""
    if spec.name in _MODELS and not replace:
        raise ValueError(f"model {spec.name!r} is already registered; pass replace=True to redefine it")
    _MODELS[spec.name] = spec
    for listener in _LISTENERS:
        listener(spec)
    return spec


def unregister_model(name: str) -> ModelSpec:
    """Removes model `name` and returns its record (tests that register one of their own restore with it)."""
    spec = model_spec(name)
    del _MODELS[name]
    return spec


def on_register(listener: Callable[[ModelSpec], None]) -> None:
    """Calls `listener(spec)` for every model registered from now on (`run.config` stores its schema so)."""
    _LISTENERS.append(listener)


def model_of_class(cls: type) -> ModelSpec | None:
    """The record of model class `cls`; None for an unregistered one."""
    return next((spec for spec in _MODELS.values() if spec.cls is cls), None)


def model_names() -> tuple[str, ...]:
    """The registered models, in registration order."""
    return tuple(_MODELS)


def model_spec(name: str) -> ModelSpec:
    """The record of model `name`; a `ValueError` listing the registered names otherwise."""
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(_MODELS)}") from None
