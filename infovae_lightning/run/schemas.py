"""Hydra schemas generated from Python signatures: a class's `__init__` (through its bases' when it passes
`**kwargs` on) or a builder function.

The signatures hold every default once; a schema is a dataclass with one typed field per keyword argument,
so an argument added to `__init__` is a config key at once, while a misspelled key or a value of the wrong
type still fails when Hydra composes the config.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import importlib
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from omegaconf import MISSING

SCALARS = (int, float, bool, str)


def schema_type(hint: Any) -> Any:
    """The closest type OmegaConf validates for a type hint: sequences become lists, `X | None` stays
    optional, mappings and other unions become `Any` (left to the constructor's own checks)."""
    if hint in SCALARS or hint is Any:
        return hint
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            inner = schema_type(rest[0])
            return inner if len(rest) == len(args) else typing.Optional[inner]  # noqa: UP045 (a runtime type)
        return Any
    if origin in (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence):
        items = [a for a in args if a is not Ellipsis]
        element = schema_type(items[0]) if len(set(items)) == 1 else Any
        return list[element] if element in SCALARS else list[Any]
    if dataclasses.is_dataclass(hint):
        return hint
    return Any


def _plain_default(value: Any) -> Any:
    """A signature default as a config value: tuples become lists, mappings dicts; no default: MISSING."""
    if value is inspect.Parameter.empty:
        return MISSING
    if isinstance(value, tuple | list):
        return [_plain_default(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain_default(v) for k, v in value.items()}
    return value


def keyword_parameters(target: Callable[..., Any]) -> dict[str, tuple[Any, Any]]:
    """`name -> (type hint, default)` of every argument `target` accepts by keyword. For a class: its
    `__init__`'s, and while that passes `**kwargs` on, its bases' (a subclass's default wins). Base arguments
    come first, in signature order."""
    functions = []
    if isinstance(target, type):
        for cls in target.__mro__:
            if "__init__" not in vars(cls) or cls is object:
                continue
            functions.append(vars(cls)["__init__"])
            if not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values()):
                break
    else:
        functions.append(target)
    found: dict[str, tuple[Any, Any]] = {}
    for function in reversed(functions):  # the base first: its order; the subclass's defaults override
        hints = typing.get_type_hints(function)
        for name, p in inspect.signature(function).parameters.items():
            if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
                continue
            found[name] = (hints.get(name, Any), p.default)
    return found


def make_schema(
    name: str,
    targets: Iterable[tuple[Callable[..., Any], str]],
    exclude: Iterable[str] = (),
    fixed: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    module: str = __name__,
) -> type:
    """A dataclass named `name` (Hydra's messages name it) with a field per keyword argument of `targets`,
    each given as `(callable, prefix)`: the prefix is put before its argument names.

    `exclude`: arguments that are not config keys (shapes the builder passes). `fixed`: leading untyped-by-
    signature keys, e.g. `_target_` or a spec's `name`, as `key -> value` (typed by the value). `overrides`:
    `key -> default` for keys whose default is not the code's: an interpolation string (kept, typed as the
    signature says) or a dataclass (a nested schema, its default one instance). `module`: where the schema is
    found by name (a composed config refers to it: pickled for a launcher's worker, it is imported there)."""
    overrides = dict(overrides or {})
    fields: list[tuple[str, Any, Any]] = [
        (key, type(value), dataclasses.field(default=value)) for key, value in (fixed or {}).items()
    ]
    skip = set(exclude)
    for target, prefix in targets:
        for arg, (hint, default) in keyword_parameters(target).items():
            if arg in skip:
                continue
            key = prefix + arg
            value = overrides.pop(key, _plain_default(default))
            if isinstance(value, type) and dataclasses.is_dataclass(value):
                fields.append((key, value, dataclasses.field(default_factory=value)))
                continue
            kind = schema_type(hint)
            if isinstance(value, list | dict):
                fields.append((key, kind, dataclasses.field(default_factory=lambda v=value: _copy(v))))
            else:
                fields.append((key, kind, dataclasses.field(default=value)))
    if overrides:
        unknown = ", ".join(sorted(overrides))
        raise TypeError(f"{name}: no argument {unknown} in the signatures it is made from")
    schema = dataclasses.make_dataclass(name, fields)
    schema.__module__ = module
    return schema


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def import_path(cls: type) -> str:
    """The shortest path `cls` imports from: its package's when the package exports it
    (`infovae_lightning.models.MMDVAE`), else its module's."""
    package = cls.__module__.rpartition(".")[0]
    if package and getattr(importlib.import_module(package), cls.__name__, None) is cls:
        return f"{package}.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"
