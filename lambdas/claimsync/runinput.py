"""The execution input of the claim sync: ``{"full_sync": bool, "dry_run": bool}``, both optional."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ALLOWED_KEYS = ("full_sync", "dry_run")


class InvalidInput(Exception):
    """The execution input is not what the claim sync accepts. The message says what is wrong."""


@dataclass(frozen=True)
class RunOptions:
    full_sync: bool = False
    dry_run: bool = False


def parse_run_input(payload: Any) -> RunOptions:
    if payload is None:
        return RunOptions()
    if not isinstance(payload, dict):
        raise InvalidInput('the input must be a JSON object such as {} or {"full_sync": true}')
    unknown = sorted(set(payload) - set(ALLOWED_KEYS))
    if unknown:
        raise InvalidInput(f"unknown input keys {unknown}; accepted keys: {list(ALLOWED_KEYS)}")
    for key in ALLOWED_KEYS:
        if key in payload and not isinstance(payload[key], bool):
            raise InvalidInput(f"{key} must be true or false")
    return RunOptions(full_sync=payload.get("full_sync", False), dry_run=payload.get("dry_run", False))
