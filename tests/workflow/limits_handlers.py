"""Handlers for the execution-environment tests: registered by dotted path, they run in the local
AWS's worker processes under their function's memory size and timeout."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

MIB = 2**20


class BadInput(Exception):
    pass


def allocate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Hold `mb` MiB (bytearray zero-fills, so every page is touched) while the handler runs."""
    block = bytearray(int(event.get("mb", 0)) * MIB)
    return {"pid": os.getpid(), "held_mb": len(block) // MIB}


def grow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Allocate `step_mb` MiB at a time up to `mb` MiB: what a handler buffering a report does."""
    blocks = [
        bytearray(int(event["step_mb"]) * MIB) for _ in range(int(event["mb"]) // int(event["step_mb"]))
    ]
    return {"pid": os.getpid(), "held_mb": sum(len(b) for b in blocks) // MIB}


def nap(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("announce"):
        print(f"napping {event['s']} s", flush=True)
    time.sleep(float(event["s"]))
    return {"pid": os.getpid(), "remaining_ms": context.get_remaining_time_in_millis()}


def reject(event: dict[str, Any], context: Any) -> Any:
    raise BadInput(f"claim field {event.get('field', '?')} is missing")


def chatty(event: dict[str, Any], context: Any) -> dict[str, Any]:
    print(f"printed {event['tag']}")
    logging.getLogger("claimsync.test").warning("logged %s", event["tag"])
    return {"pid": os.getpid()}


def environment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"pid": os.getpid(), "values": {name: os.environ.get(name) for name in event["names"]}}
