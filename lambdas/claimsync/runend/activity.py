"""What a run's execution was doing when it ended, and waiting out an upload Lambda still running.

Step Functions cannot stop a running Lambda: an execution that ends while StartUpload or
CheckUpload runs may still see that Lambda create and close Bulk jobs. ``last_activity`` finds such
an attempt in the execution history; ``wait_for_upload_lambda`` waits until it saved the run's
upload state (its last act) or its timeout passed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from claimsync import layout
from claimsync.errors import ClaimsyncError
from claimsync.history import (
    TASK_ENDS,
    TASK_SCHEDULED,
    TASK_STARTED,
    Event,
    ancestor,
    entered_state,
    is_state_entered,
    state_name,
)

# The states whose Lambdas create Bulk jobs, and how long each may run (its function timeout).
UPLOAD_STATES: Mapping[str, int] = {
    spec.name: spec.timeout_s for spec in layout.SYNC_FUNCTIONS if spec.name in ("StartUpload", "CheckUpload")
}
LAMBDA_GRACE_S = 10  # beyond a function's timeout, before it is surely no longer running
SETTLE_RESERVE_S = 60  # handler time kept for aborting, recording and releasing after a wait
UPLOAD_POLL_S = 5.0  # between looks at the run's upload state while an upload Lambda may run
HISTORY_PAGE = 1000  # the newest events: an in-flight task is among the last few


class UploadStillRunning(ClaimsyncError):
    """An upload Lambda of the run may still be running past this invocation's time. The invocation
    fails and Lambda's asynchronous retry brings the event back (no state machine retries it, so it
    is not ``transient`` in claimsync.errors' sense)."""


@dataclass(frozen=True)
class LastActivity:
    state: str  # the last state entered ("" when none)
    upload_running_until: float | None = None  # epoch s: an upload Lambda may run until then (its timeout)
    upload_started_at: float | None = None  # epoch s: when that Lambda's attempt started


def _timestamp(event: Mapping[str, Any]) -> float:
    value = event["timestamp"]
    return value.timestamp() if isinstance(value, dt.datetime) else float(value)


def last_activity(events: Iterable[Mapping[str, Any]]) -> LastActivity:
    """The last state entered, and whether an upload Lambda was still running at the end.

    A task attempt is running when its ``*Scheduled`` event has no ended event (``*Succeeded``,
    ``*Failed``, ``*TimedOut``, ...) tracing back to it through ``previousEventId``. Its state is
    the ``*StateEntered`` event it traces back to; its Lambda runs at most the function's timeout
    from its ``*Started`` (or ``*Scheduled``) time.
    """
    by_id = {int(e["id"]): e for e in events}
    entered_ids = [i for i, e in by_id.items() if is_state_entered(str(e["type"]))]
    last_state = state_name(by_id[max(entered_ids)]) if entered_ids else ""
    upload = _latest_upload(by_id, _running_attempts(by_id))
    if upload is None:
        return LastActivity(last_state)
    return LastActivity(last_state, upload_running_until=upload[1], upload_started_at=upload[0])


def _running_attempts(by_id: Mapping[int, Event]) -> dict[int, float]:
    """The task attempts without an ended event: ``*Scheduled`` event id -> when the attempt started."""
    running: dict[int, float] = {}
    for event_id in sorted(by_id):
        event = by_id[event_id]
        kind = str(event["type"])
        if kind in TASK_SCHEDULED:
            running[event_id] = _timestamp(event)
            continue
        if kind not in TASK_STARTED and kind not in TASK_ENDS:
            continue
        scheduled = ancestor(by_id, event, TASK_SCHEDULED.__contains__)
        if scheduled is None or int(scheduled["id"]) not in running:
            continue
        if kind in TASK_STARTED:
            running[int(scheduled["id"])] = _timestamp(event)
        else:
            del running[int(scheduled["id"])]
    return running


def _latest_upload(by_id: Mapping[int, Event], running: Mapping[int, float]) -> tuple[float, float] | None:
    """(started, running until) of the latest upload attempt still running; None when there is none."""
    upload = None
    for scheduled_id, started in running.items():
        name = state_name(entered_state(by_id, by_id[scheduled_id]))
        if name in UPLOAD_STATES and (upload is None or started > upload[0]):
            upload = (started, started + UPLOAD_STATES[name] + LAMBDA_GRACE_S)
    return upload


def wait_for_upload_lambda(
    activity: LastActivity,
    *,
    saved_at: Callable[[], float | None],
    now: Callable[[], float],
    sleep: Callable[[float], None],
    remaining_s: Callable[[], float],
) -> float:
    """Wait until an upload Lambda still running at the end can no longer create or close a Bulk
    job; return the seconds waited (0 when none was running).

    StartUpload and CheckUpload save the run's upload state as their last act, so a save since the
    attempt started (``saved_at``: the state's last-modified time, whole seconds) means its jobs are
    in the state. Otherwise it is over at its function's timeout. Raises ``UploadStillRunning`` when
    this invocation's time runs out first: Lambda's asynchronous retry brings the event back.
    """
    until, started = activity.upload_running_until, activity.upload_started_at
    if until is None or started is None:
        return 0.0
    began = now()
    while True:
        saved = saved_at()
        if saved is not None and saved >= int(started):  # last-modified times have whole seconds
            break
        moment = now()
        if moment >= until:
            break
        budget = remaining_s() - SETTLE_RESERVE_S
        if budget <= 0:
            raise UploadStillRunning("an upload Lambda of the run may still be running: retried later")
        sleep(min(UPLOAD_POLL_S, until - moment, budget))
    return now() - began


def upload_saved_at(s3: Any, bucket: str, run_id: str) -> float | None:
    """When the run's upload state was last written (epoch seconds), or ``None`` if it never was."""
    try:
        head = s3.head_object(Bucket=bucket, Key=layout.upload_state_key(run_id))
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    modified: dt.datetime = head["LastModified"]
    return modified.timestamp()


def read_history(stepfunctions: Any, execution_arn: str) -> list[dict[str, Any]]:
    """The newest events of the execution (without execution data: no payloads are read)."""
    page = stepfunctions.get_execution_history(
        executionArn=execution_arn, reverseOrder=True, maxResults=HISTORY_PAGE, includeExecutionData=False
    )
    events: list[dict[str, Any]] = page["events"]
    return events
