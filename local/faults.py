"""One fault shape for both emulators: a declaration parsed and validated once, a queue that fires it.

Both emulators' ``POST /__admin/faults`` take one fault object or a list of them::

    {"kind": "unavailable", "on": "bulk_upload", "count": 2}
    {"kind": "http_status", "on": "run", "count": 2, "status": 503}
    {"kind": "lock_row", "share": 0.1, "seed": 7, "max_per_record": 1}

- ``kind`` names the fault (each emulator declares its kinds in a ``FaultCatalog``);
- ``on`` the call it fires on, ``"*"`` (the default) for any — only for kinds that target a call;
- ``count`` how many times it fires (default 1), for counted kinds; a standing kind (no ``count``)
  stays in force until ``DELETE /__admin/faults`` and replaces an earlier fault of its kind;
- every other key is a parameter of the kind (``status``, ``seconds``, ``share``...).

``GET /__admin/faults`` lists the queued faults in the same shape, ``count`` being what is left.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

ANY_CALL = "*"


class FaultError(ValueError):
    """A fault declaration that does not fit its catalog; the message is safe to return to the caller."""


Check = Callable[[Any], Any]  # returns the value to keep, or raises FaultError("...")


@dataclass(frozen=True)
class Param:
    """One parameter of a fault kind: its name, its check, and its default (required without one)."""

    name: str
    check: Check
    default: Any = None
    required: bool = True


@dataclass(frozen=True)
class FaultKind:
    """What a kind of fault accepts. ``targets``: the calls ``on`` may name (None: the kind has no
    ``on``); ``counted``: False for a standing fault, in force until cleared."""

    name: str
    params: tuple[Param, ...] = ()
    targets: frozenset[str] | None = None
    counted: bool = True

    def keys(self) -> set[str]:
        allowed = {"kind", *(p.name for p in self.params)}
        if self.targets is not None:
            allowed.add("on")
        if self.counted:
            allowed.add("count")
        return allowed


@dataclass(frozen=True)
class Fault:
    """One parsed fault declaration (immutable; the queue keeps what is left of ``count``)."""

    kind: str
    on: str | None = None
    count: int | None = 1  # None: standing until cleared
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    def matches(self, kind: str, call: str | None) -> bool:
        return self.kind == kind and (self.on in (None, ANY_CALL) or call is None or self.on == call)

    def to_json(self, remaining: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        if self.on is not None:
            data["on"] = self.on
        if self.count is not None:
            data["count"] = self.count if remaining is None else remaining
        return {**data, **self.params}


class FaultCatalog:
    """The fault kinds one emulator knows; ``parse`` turns admin JSON into ``Fault`` declarations."""

    def __init__(self, kinds: Iterable[FaultKind]) -> None:
        self.kinds = {k.name: k for k in kinds}

    def parse_body(self, body: Any) -> list[Fault]:
        """One fault object or a list of them; a bad one names its position."""
        specs = body if isinstance(body, list) else [body]
        faults = []
        for index, spec in enumerate(specs):
            try:
                faults.append(self.parse(spec))
            except FaultError as exc:
                raise FaultError(f"fault {index}: {exc}") from None
        return faults

    def parse(self, spec: Any) -> Fault:
        if not isinstance(spec, dict):
            raise FaultError('a fault must be a JSON object such as {"kind": "...", "count": 1}')
        name = spec.get("kind")
        kind = self.kinds.get(name) if isinstance(name, str) else None
        if kind is None:
            raise FaultError(f"kind must be one of: {', '.join(self.kinds)}")
        unknown = sorted(set(spec) - kind.keys())
        if unknown:
            allowed = ", ".join(sorted(kind.keys()))
            raise FaultError(
                f"unknown key(s) for a {kind.name} fault: {', '.join(unknown)}; allowed: {allowed}"
            )
        return Fault(
            kind=kind.name,
            on=_target(kind, spec.get("on", ANY_CALL)) if kind.targets is not None else None,
            count=integer("count", low=1)(spec.get("count", 1)) if kind.counted else None,
            params=MappingProxyType(_params(kind, spec)),
        )


def _target(kind: FaultKind, on: Any) -> str:
    assert kind.targets is not None
    if not isinstance(on, str) or (on != ANY_CALL and on not in kind.targets):
        raise FaultError(f'on must be "{ANY_CALL}" or one of: {", ".join(sorted(kind.targets))}')
    return str(on)


def _params(kind: FaultKind, spec: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for param in kind.params:
        if param.name in spec:
            values[param.name] = param.check(spec[param.name])
        elif param.required:
            raise FaultError(f"a {kind.name} fault needs {param.name}")
        else:
            values[param.name] = param.default
    return values


class FaultQueue:
    """The faults in force, in the order queued (thread-safe). A counted fault fires ``count`` times
    and is gone; a standing one stays until ``clear`` and replaces an earlier one of its kind."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._items: list[tuple[Fault, list[int]]] = []  # (declaration, [remaining]; [] when standing)

    def add(self, faults: Iterable[Fault]) -> None:
        with self._mutex:
            for fault in faults:
                if fault.count is None:
                    self._items = [item for item in self._items if item[0].kind != fault.kind]
                self._items.append((fault, [] if fault.count is None else [fault.count]))

    def take(self, kind: str, call: str | None = None) -> Fault | None:
        """The first queued fault of ``kind`` that fires on ``call`` (one fewer left), or None."""
        with self._mutex:
            for index, (fault, remaining) in enumerate(self._items):
                if fault.matches(kind, call):
                    if remaining:
                        remaining[0] -= 1
                        if remaining[0] == 0:
                            del self._items[index]
                    return fault
        return None

    def standing(self, kind: str) -> Fault | None:
        """The standing fault of ``kind`` in force (not consumed), or None."""
        with self._mutex:
            return next((f for f, remaining in self._items if f.kind == kind and f.count is None), None)

    def describe(self) -> list[dict[str, Any]]:
        with self._mutex:
            return [f.to_json(remaining[0] if remaining else None) for f, remaining in self._items]

    def clear(self) -> None:
        with self._mutex:
            self._items.clear()


# -- parameter checks ------------------------------------------------------------------------------


def integer(name: str, low: int | None = None, high: int | None = None) -> Check:
    """An integer (not a boolean) in [low, high]; either bound may be absent."""

    def check(value: Any) -> int:
        fits = isinstance(value, int) and not isinstance(value, bool)
        if not fits or (low is not None and value < low) or (high is not None and value > high):
            bounds = (
                f" in [{low}, {high}]"
                if high is not None
                else f" of at least {low}"
                if low is not None
                else ""
            )
            raise FaultError(f"{name} must be an integer{bounds}")
        return int(value)

    return check


def number(name: str, low: float, high: float, *, low_open: bool = False) -> Check:
    """A number in [low, high] (or (low, high] with ``low_open``), kept as a float."""

    def check(value: Any) -> float:
        fits = isinstance(value, int | float) and not isinstance(value, bool)
        if not (fits and (value > low if low_open else value >= low) and value <= high):
            raise FaultError(f"{name} must be a number in {'(' if low_open else '['}{low:g}, {high:g}]")
        return float(value)

    return check


def one_of(name: str, *choices: str) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise FaultError(f"{name} must be one of: {', '.join(choices)}")
        return value

    return check
