"""PrepareRun: the execution input checked, and the run's id, clock, lock and record expiry fixed.

:class:`Run` travels with every step (``$.run``): ids, flags and the times the DynamoDB direct
integrations of the state machine need (as strings: the ``N`` attribute type takes a string).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claimsync.config import SyncSettings
from claimsync.errors import ClaimsyncError
from claimsync.steps.deps import Deps

ALLOWED_INPUT_KEYS = ("full_sync", "dry_run")
RUN_RECORD_DAYS = 90
LOCK_ITEM_GRACE_S = 86_400  # DynamoDB TTL removes an expired lock item a day after it expires


class InvalidInput(ClaimsyncError):
    """The execution input is not what the claim sync accepts. The message says what is wrong."""


@dataclass(frozen=True)
class Run:
    run_id: str
    started_at: str = ""
    full_sync: bool = False
    dry_run: bool = False
    now: str = "0"
    lock_until: str = "0"
    lock_expires_at: str = "0"
    record_expires_at: str = "0"


@dataclass(frozen=True)
class PrepareTask:
    run_id: str
    started_at: str
    input: Any = None


@dataclass(frozen=True)
class Prepared:
    run: Run


def parse_run_input(payload: Any) -> dict[str, bool]:
    """The run flags of an execution input: ``{}``, ``{"full_sync": true}``, ``{"dry_run": true}``."""
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise InvalidInput('the input must be a JSON object such as {} or {"full_sync": true}')
    unknown = sorted(set(payload) - set(ALLOWED_INPUT_KEYS))
    if unknown:
        raise InvalidInput(f"unknown input keys {unknown}; accepted keys: {list(ALLOWED_INPUT_KEYS)}")
    for key in ALLOWED_INPUT_KEYS:
        if key in payload and not isinstance(payload[key], bool):
            raise InvalidInput(f"{key} must be true or false")
    return {key: payload[key] for key in ALLOWED_INPUT_KEYS if key in payload}


def prepare_step(deps: Deps, task: PrepareTask) -> Prepared:
    return prepare_run(deps.settings, task, deps.now)


def prepare_run(settings: SyncSettings, task: PrepareTask, now: float) -> Prepared:
    flags = parse_run_input(task.input)
    clock = int(now)
    lock_until = clock + settings.lock_ttl_seconds
    return Prepared(
        Run(
            run_id=task.run_id,
            started_at=task.started_at,
            now=str(clock),
            lock_until=str(lock_until),
            lock_expires_at=str(lock_until + LOCK_ITEM_GRACE_S),
            record_expires_at=str(clock + RUN_RECORD_DAYS * 86_400),
            **flags,
        )
    )
