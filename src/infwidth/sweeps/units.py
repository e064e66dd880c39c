"""Units of work: a registered name -> ``function(frozen config) -> JSON-serialisable dict``.

A unit is registered by an import path string (``"package.module:function"``) and imported only when a
sweep runs it, so registering costs nothing and optional dependencies stay optional. The config class
is the type hint of the function's only parameter; a sweep's axes must be fields of that class.
Worker processes receive the import path, not the name, so units registered at run time work there too.
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from infwidth.errors import UserError

#: Built-in units, by name. Others register with :func:`register_unit`.
UNITS: dict[str, str] = {
    "quadratic": "infwidth.sweeps.toy:quadratic",
    "mlp-adam": "infwidth.sweeps.mlp_unit:train_mlp",
    "coordcheck-point": "infwidth.sweeps.coordcheck_unit:coordcheck_point",
    "gpt": "infwidth.sweeps.gpt_unit:train_gpt",
    "word2vec": "infwidth.sweeps.word2vec_unit:train_word2vec",
    "maml": "infwidth.sweeps.maml_unit:train_maml",
    "converge": "infwidth.studies.converge:run_point",
    "contrast": "infwidth.studies.contrast:contrast_point",
}


def register_unit(name: str, target: str, *, replace: bool = False) -> None:
    """Register ``target`` (``"module:function"``) under ``name``; imported lazily when a sweep runs it."""
    if not isinstance(target, str) or target.count(":") != 1:
        raise UserError(f"unit target must read 'package.module:function', got {target!r}")
    if name in UNITS and UNITS[name] != target and not replace:
        raise UserError(f"unit {name!r} is already registered as {UNITS[name]}; pass replace=True to change it")
    UNITS[name] = target


def unit_names() -> list[str]:
    """Registered unit names, sorted."""
    return sorted(UNITS)


@dataclass(frozen=True)
class Unit:
    """A resolved unit: its name, import path, function and frozen config dataclass."""

    name: str
    target: str
    function: Callable[[Any], Mapping[str, Any]]
    config_type: type

    def fields(self) -> list[str]:
        return field_names(self.config_type)

    def make_config(self, values: Mapping[str, Any]) -> Any:
        """The config dataclass from ``values``: lists become tuples (configs stay hashable), a mapping
        given for a dataclass-typed field builds that dataclass, and ``"config.lr"`` sets a nested field."""
        return build_dataclass(self.config_type, values, f"unit {self.name!r}")


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _field_default(cls: type, name: str, start: Any) -> Any:
    """The value field ``name`` of ``cls`` takes when not given: ``start``'s, else the field's default."""
    if start is not None:
        return getattr(start, name)
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
    return None


def build_dataclass(cls: type, values: Mapping[str, Any], where: str, start: Any = None) -> Any:
    """``cls(**values)`` with nested dataclasses built from mappings or dotted keys; one-line errors.

    A nested dataclass given partly (``{"train.model.d_model": 128}``) starts from the value that field
    has by default (``start``'s, or its default factory's), so fields not named keep the unit's defaults."""
    fields = field_names(cls)
    flat: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        head, dot, rest = str(key).partition(".")
        if head not in fields:
            raise UserError(f"unknown config field {key!r} for {where}; its fields are {', '.join(fields)}")
        if dot:
            nested.setdefault(head, {})[rest] = value
        else:
            flat[head] = value
    hints = typing.get_type_hints(cls)
    for head, sub in nested.items():
        base = flat.get(head) or {}
        if not isinstance(base, Mapping):
            raise UserError(f"{head!r} is set both as a value and by dotted keys for {where}; use one form")
        flat[head] = {**base, **sub}
    for key, value in list(flat.items()):
        kind = hints.get(key)
        if isinstance(value, Mapping) and isinstance(kind, type) and dataclasses.is_dataclass(kind):
            default = _field_default(cls, key, start)
            flat[key] = build_dataclass(kind, value, f"{where}, field {key!r}",
                                        default if isinstance(default, kind) else None)
        elif isinstance(value, list):
            flat[key] = tuple(value)
    try:
        return dataclasses.replace(start, **flat) if start is not None else cls(**flat)
    except TypeError as exc:
        raise UserError(f"cannot build {cls.__name__} for {where}: {exc}") from None


def import_target(target: str) -> Callable[[Any], Mapping[str, Any]]:
    """The function named by ``"module:function"``."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"cannot import unit module {module_name!r} ({exc}); install what it needs or fix the unit path") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise UserError(f"module {module_name!r} has no function {attr!r}; fix the unit path") from None


def config_type_of(function: Callable[..., Any], name: str) -> type:
    """The frozen dataclass that ``function`` takes (the type hint of its only parameter)."""
    import inspect

    try:
        hints = typing.get_type_hints(function)
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError, NameError):
        hints, params = {}, []
    # the first parameter takes the config; any others must have defaults
    ok = bool(params) and all(p.default is not inspect.Parameter.empty for p in params[1:])
    cls = hints.get(params[0].name) if ok else None
    if cls is None or not dataclasses.is_dataclass(cls):
        raise UserError(f"unit {name!r} must take one dataclass config argument (type-hinted); fix its definition")
    if not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise UserError(f"unit {name!r}: config {cls.__name__} must be a frozen dataclass")
    return cls


def resolve_unit(name_or_target: str) -> Unit:
    """A unit by registered name, or directly by ``"module:function"`` path."""
    if name_or_target in UNITS:
        target = UNITS[name_or_target]
    elif ":" in name_or_target:
        target = name_or_target
    else:
        raise UserError(f"unknown unit {name_or_target!r}; choose one of {', '.join(unit_names())} or give 'module:function'")
    function = import_target(target)
    return Unit(name_or_target, target, function, config_type_of(function, name_or_target))


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (what a failed point records)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def execute(target: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Run one point in this process: ``{"status": "ok", "result": ..., "seconds": s}`` or a failure record.

    This is what every executor ships to a worker (a module-level function of picklable arguments).
    A unit that raises yields ``{"status": "failed", "error": "<one line>"}``; the sweep goes on.
    """
    import time

    from infwidth.runs import jsonable

    start = time.perf_counter()
    try:
        function = import_target(target)
        unit = Unit(target, target, function, config_type_of(function, target))
        result = dict(jsonable(function(unit.make_config(config))))
    except Exception as exc:  # noqa: BLE001 - a failing point is recorded, not fatal
        return {"status": "failed", "error": one_line(exc), "seconds": time.perf_counter() - start}
    return {"status": "ok", "result": result, "seconds": time.perf_counter() - start}
