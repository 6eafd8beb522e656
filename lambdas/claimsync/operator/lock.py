"""The run lock, as an operator meets it: a run refused because another holds the lock
(``refusal_line``, ``lock_outcome``), and ``claimsync unlock`` for a lock whose run has ended.

The lock itself (an item of the sync table, owner-conditional) is ``claimsync.runlock``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from claimsync import runlock
from claimsync.operator.deployment import Deployment, OperatorError
from claimsync.operator.execution import RUNNING_STATUSES, execution_arn

AFTER_LOCK_STATE = "LoadCheckpoint"  # entered only by a run that holds the lock (AcquireLock's Next)


class UnlockRefused(OperatorError):
    """The lock's owner is still running (or the lock changed while it was being checked)."""


def _when(value: Any) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else str(value)


def holder_status(stepfunctions: Any, deployment: Deployment, owner: str) -> tuple[str, str]:
    """(status, start time) of the execution named ``owner``; ("UNKNOWN", "") if there is none."""
    try:
        described = stepfunctions.describe_execution(executionArn=execution_arn(deployment, owner))
    except stepfunctions.exceptions.ExecutionDoesNotExist:
        return "UNKNOWN", ""
    return str(described["status"]), _when(described.get("startDate", ""))


def refusal_line(lock: runlock.Lock | None) -> str:
    """One line for a run that ended ALREADY_RUNNING: who holds the lock (read after it ended)."""
    if lock is None:
        return "refused: another run held the lock and has released it since; start the run again"
    return (
        f"refused: run {lock.owner} holds the lock until {lock.lock_until_iso} "
        "(if that run has ended, `claimsync unlock` releases it)"
    )


def unlock(stepfunctions: Any, dynamodb: Any, deployment: Deployment) -> str:
    """Remove the lock if its owner execution has ended; say whose lock it was.

    Raises ``UnlockRefused`` while the owner runs: a running execution releases its own lock, and
    removing it would let a second run start beside it.
    """
    lock = runlock.read_lock(dynamodb, deployment.table)
    if lock is None:
        return "no run holds the lock: nothing to unlock"
    status, since = holder_status(stepfunctions, deployment, lock.owner)
    if status in RUNNING_STATUSES:
        raise UnlockRefused(
            f"refused: run {lock.owner} is {status} (started {since}); it releases the lock when it ends"
        )
    if not runlock.release_lock(dynamodb, deployment.table, lock.owner, lock_until=lock.lock_until):
        raise UnlockRefused("refused: the lock changed while it was checked; run `claimsync unlock` again")
    started = f", started {since}" if since else ", no such execution of this state machine"
    return f"removed the lock of run {lock.owner} ({status}{started}; it held the lock until {lock.lock_until_iso})"


def lock_outcome(
    stepfunctions: Any,
    execution_arn: str,
    *,
    deadline_s: float = 120.0,
    poll_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Follow a just-started run until it holds the lock or ends (bounded by ``deadline_s``).

    Returns "ACQUIRED" (past AcquireLock), "ALREADY_RUNNING" (refused: another run holds the lock),
    the execution's final status when it ended otherwise (FAILED: e.g. its input was rejected), or
    "RUNNING" when the deadline passed first.
    """
    give_up = clock() + deadline_s
    while True:
        described = stepfunctions.describe_execution(executionArn=execution_arn)
        status = str(described["status"])
        if status not in RUNNING_STATUSES:
            output = json.loads(described.get("output") or "null")
            refused = isinstance(output, dict) and output.get("status") == "ALREADY_RUNNING"
            return "ALREADY_RUNNING" if status == "SUCCEEDED" and refused else status
        page = stepfunctions.get_execution_history(
            executionArn=execution_arn, maxResults=100, includeExecutionData=False
        )
        entered = {
            e["stateEnteredEventDetails"]["name"]
            for e in page["events"]
            if e["type"].endswith("StateEntered")
        }
        if AFTER_LOCK_STATE in entered:
            return "ACQUIRED"
        if clock() >= give_up:
            return status
        sleep(poll_s)
