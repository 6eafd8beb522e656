"""Step payloads: frozen dataclasses to and from the JSON the state machine carries.

Every step takes one input dataclass and returns one output dataclass. The state machine passes
them as JSON (``Parameters`` build the input, ``ResultPath`` puts the output); this module is the
only translation. A payload with a missing required field, an unknown field or a value of the wrong
type is a :class:`ContractError` naming the step type and the field, never a value.

Supported field types: ``str``, ``int``, ``float``, ``bool``, nested step dataclasses, ``list[...]``
/ ``tuple[..., ...]`` of those, ``dict[str, Any]`` (passed through) and ``X | None``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from claimsync.errors import ClaimsyncError

T = TypeVar("T")


class ContractError(ClaimsyncError):
    """A step payload does not match its dataclass (a state machine / code mismatch: a bug)."""


def from_payload(cls: type[T], payload: Any) -> T:
    """``cls`` built from ``payload`` (a JSON object), checked field by field."""
    if not isinstance(payload, Mapping):
        raise ContractError(f"{cls.__name__}: expected a JSON object")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(payload) - names)
    if unknown:
        raise ContractError(f"{cls.__name__}: unknown field(s) {unknown}")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in payload:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ContractError(f"{cls.__name__}: missing field {f.name!r}")
            continue
        values[f.name] = _convert(hints[f.name], payload[f.name], f"{cls.__name__}.{f.name}")
    return cls(**values)


def to_payload(value: Any) -> dict[str, Any]:
    """The JSON object of a step dataclass (tuples become lists)."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        raise TypeError("to_payload takes a dataclass instance")
    return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}


def required_fields(cls: type[Any]) -> set[str]:
    return {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


def field_type(cls: type[Any], name: str) -> Any:
    """The declared type of ``cls.name`` (``KeyError`` when there is no such field)."""
    return _hints(cls)[name]


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_payload(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _convert(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        (inner,) = [option for option in options if option is not type(None)]
        return _convert(inner, value, where)
    if kind is Any:
        return value
    if dataclasses.is_dataclass(kind):
        return from_payload(kind, value)  # type: ignore[arg-type]
    if origin in (list, tuple):
        return _sequence(kind, origin, value, where)
    if origin is dict or kind is dict:
        return _mapping(kind, value, where)
    check = _SCALARS.get(kind)
    if check is None:
        raise TypeError(f"{where}: unsupported contract type {kind!r}")
    if not check[0](value):
        raise ContractError(f"{where}: expected {check[1]}")
    return float(value) if kind is float else value


def _sequence(kind: Any, origin: Any, value: Any, where: str) -> Any:
    if not isinstance(value, list | tuple):
        raise ContractError(f"{where}: expected a list")
    args = typing.get_args(kind)
    items = [_convert(args[0] if args else Any, v, where) for v in value]
    return items if origin is list else tuple(items)


def _mapping(kind: Any, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ContractError(f"{where}: expected an object")
    args = typing.get_args(kind)
    if len(args) == 2 and args[1] is not Any:
        return {str(k): _convert(args[1], v, where) for k, v in value.items()}
    return dict(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_SCALARS: dict[Any, tuple[typing.Callable[[Any], bool], str]] = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (_is_int, "an integer"),
    float: (lambda v: _is_int(v) or isinstance(v, float), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
}
