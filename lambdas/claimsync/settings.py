"""The one reader of settings: frozen dataclasses of typed fields, each default declared once, on its
field, and read from the environment (a Lambda's cold start) or from any mapping of raw values
(``cdk.json`` context).

    @dataclass(frozen=True)
    class Example:
        bucket: str                                    # no default: required
        page_size: int = setting(5000, low=1)          # read from <prefix>PAGE_SIZE
        timeout_s: float = setting(20.0, env="EXAMPLE_TIMEOUT_SECONDS", low=1, high=900)

    settings = from_env(Example, os.environ, prefix="CLAIMSYNC_", error=ConfigError)

Rules, the same for every settings object of the project:

- a variable is named ``<prefix><FIELD>`` unless the field names its own (``env=``); ``fallback``
  names variables read when that one is unset (``AWS_LAMBDA_FUNCTION_NAME``);
- an unset or blank variable leaves the default; a field without a default is required;
- the field's type converts the text: ``str``, ``int`` (a whole number), ``float``, ``bool``
  (``true/false/1/0/yes/no``), ``tuple[str, ...]`` (comma-separated, or a JSON list),
  ``Mapping[str, ...]`` (a JSON object). A value that already has the type (JSON from ``cdk.json``)
  is taken as it is;
- ``low``/``high`` bound numbers, ``pattern`` must match a string (or each item of a tuple) whole;
- every problem is collected and one ``error`` names each setting at fault. Settings hold names of
  secrets, never their values, so naming a setting reveals nothing.
"""

from __future__ import annotations

import json
import math
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
S = TypeVar("S", bound="DataclassInstance")

_METADATA_KEY = "claimsync.setting"
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


@dataclass(frozen=True)
class Setting:
    """How one field is read, besides its type and default."""

    env: str | None = None  # the variable's name, when it is not <prefix><FIELD>
    fallback: tuple[str, ...] = ()  # variables read, in order, when that one is unset or blank
    low: float | None = None
    high: float | None = None
    pattern: str | None = None


def setting(
    default: T,
    *,
    env: str | None = None,
    fallback: tuple[str, ...] = (),
    low: float | None = None,
    high: float | None = None,
    pattern: str | None = None,
) -> T:
    """A settings field with ``default`` and the rules it is read with (``dataclasses.field``)."""
    rules = Setting(env=env, fallback=fallback, low=low, high=high, pattern=pattern)
    return field(default=default, metadata={_METADATA_KEY: rules})


def rules_of(f: Field[Any]) -> Setting:
    found = f.metadata.get(_METADATA_KEY)
    return found if isinstance(found, Setting) else Setting()


def env_name(f: Field[Any], prefix: str) -> str:
    """The environment variable that sets field ``f``."""
    return rules_of(f).env or f"{prefix}{f.name.upper()}"


def from_env(cls: type[S], env: Mapping[str, str], *, prefix: str, error: type[Exception]) -> S:
    """``cls`` read from the environment ``env`` (see the module's rules)."""
    raw: dict[str, object] = {}
    names: dict[str, str] = {}
    for f in fields(cls):
        names[f.name] = env_name(f, prefix)
        for candidate in (names[f.name], *rules_of(f).fallback):
            value = env.get(candidate, "")
            if value.strip():
                raw[f.name] = value
                break
    return read(cls, raw, error=error, name_of=names.__getitem__)


def read(
    cls: type[S],
    raw: Mapping[str, object],
    *,
    error: type[Exception],
    name_of: Callable[[str], str] = str,
) -> S:
    """``cls`` from raw values by field name (absent or ``None``: the default); ``name_of`` turns a
    field name into what the problems call it (its environment variable, a context key)."""
    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    problems: list[str] = []
    for f in fields(cls):
        value = raw.get(f.name)
        if value is None:
            if f.default is MISSING and f.default_factory is MISSING:
                problems.append(f"{name_of(f.name)} is required")
            continue
        try:
            values[f.name] = convert(hints[f.name], value)
        except ValueError as exc:
            problems.append(f"{name_of(f.name)} must be {exc}")
    if problems:
        raise error("; ".join(problems))
    settings = cls(**values)
    problems = check(settings, name_of=name_of)
    if problems:
        raise error("; ".join(problems))
    return settings


def check(settings: DataclassInstance, *, name_of: Callable[[str], str] = str) -> list[str]:
    """What is wrong with ``settings`` by the bounds and patterns its fields declare."""
    problems: list[str] = []
    for f in fields(settings):
        rules, value, name = rules_of(f), getattr(settings, f.name), name_of(f.name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            problems.extend(_out_of_bounds(name, value, rules.low, rules.high))
        if rules.pattern is not None:
            problems.extend(_unmatched(name, value, rules.pattern))
    return problems


def _out_of_bounds(name: str, value: float, low: float | None, high: float | None) -> list[str]:
    if low is not None and high is not None and not low <= value <= high:
        return [f"{name} must be between {low:g} and {high:g}"]
    if low is not None and value < low:
        return [f"{name} must be at least {low:g}"]
    if high is not None and value > high:
        return [f"{name} must be at most {high:g}"]
    return []


def _unmatched(name: str, value: object, pattern: str) -> list[str]:
    """``value`` (a string, or each item of a tuple) must match ``pattern`` whole."""
    items = value if isinstance(value, tuple) else (value,)
    if all(isinstance(i, str) and re.fullmatch(pattern, i) for i in items):
        return []
    what = "every item of " if isinstance(value, tuple) else ""
    return [f"{what}{name} must match {pattern}"]


def convert(hint: Any, raw: object) -> object:
    """``raw`` (text, or a JSON value) as type ``hint``; ``ValueError`` says what it must be."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return _bool(raw)
    if hint is int:
        return _int(raw)
    if hint is float:
        return _float(raw)
    if hint is str:
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ValueError("a string")
        return str(raw)
    if origin is tuple:
        return _strings(raw)
    if origin in (Mapping, dict):
        return _mapping(raw, keep_values=len(args) == 2 and args[1] is Any)
    raise TypeError(f"settings of type {hint} are not supported")  # a programming error, not input


def to_env(settings: DataclassInstance, *, prefix: str) -> dict[str, str]:
    """The environment ``from_env`` reads ``settings`` back from."""
    env: dict[str, str] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, tuple):
            text = ",".join(value)
        elif isinstance(value, Mapping):
            text = json.dumps(dict(value), sort_keys=True)
        else:
            text = str(value)
        env[env_name(f, prefix)] = text
    return env


def _bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower() if isinstance(raw, str | int) else ""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("true or false")


def _int(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError("a whole number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str):
        try:
            return int(raw.strip())
        except ValueError:
            pass
    raise ValueError("a whole number")


def _float(raw: object) -> float:
    value: float | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            value = None
    if value is None or not math.isfinite(value):
        raise ValueError("a number")
    return value


def _strings(raw: object) -> tuple[str, ...]:
    value = raw
    if isinstance(raw, str) and raw.strip().startswith("["):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError("a list of names (comma-separated or a JSON list)") from None
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError("a list of names (comma-separated or a JSON list)")


def _mapping(raw: object, *, keep_values: bool) -> dict[str, Any]:
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError("a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError("a JSON object")
    return {str(k): v if keep_values else str(v) for k, v in value.items()}
