"""Settle a run that ended abnormally: stopped (ABORTED), TIMED_OUT, or FAILED.

The state machine cleans up after every failure it can catch (``RecordFailure`` ->
``ReleaseLockAfterFailure``). Three ends escape it: ``StopExecution``, the state machine's overall
``TimeoutSeconds``, and ``States.Runtime`` (which no ``Catch`` handles). Each leaves the lock held
until its ``lock_until`` (hours), no run record, and possibly Bulk jobs queued in Salesforce that
would land after a newer run's job and overwrite newer values the checkpoint counts as landed.

``settle`` runs on the execution's "Step Functions Execution Status Change" event (EventBridge in
AWS; the local world delivers the same event itself) and, in this order:

1. waits, if the execution ended while an upload Lambda (StartUpload, CheckUpload) was still
   running -- Step Functions cannot stop a running Lambda; it may still create and close Bulk jobs
   -- until that Lambda saved the run's upload state (its last act), or its timeout passed;
2. aborts the run's Bulk jobs that are not finished (job ids from the run's staged upload state);
3. records the run's end as a RUN item (status, error class, the state it ended in; never a
   value) -- unless a record exists: the state machine's own ``RecordFailure`` (or ``RecordRun``)
   record is more precise and is kept;
4. releases the lock if, and only if, this execution holds it (conditional delete on the owner).

Every step is idempotent: EventBridge delivers at least once, and a retried event finds the jobs
final, the record present and the lock gone or another run's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from claimsync import layout, runlock
from claimsync.errors import ClaimsyncError
from claimsync.salesforce.errors import SalesforceNotFound, SalesforceRequestError
from claimsync.salesforce.gateway import SalesforceGateway
from claimsync.staging import Staging
from claimsync.steps.contract import from_payload
from claimsync.steps.run import RUN_RECORD_DAYS
from claimsync.steps.upload import BULK, UploadState

# The states whose Lambdas create Bulk jobs, and how long each may run (its function timeout).
UPLOAD_STATES: Mapping[str, int] = {
    spec.name: spec.timeout_s for spec in layout.SYNC_FUNCTIONS if spec.name in ("StartUpload", "CheckUpload")
}
FINAL_JOB_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
LAMBDA_GRACE_S = 10  # beyond a function's timeout, before it is surely no longer running
SETTLE_RESERVE_S = 60  # handler time kept for aborting, recording and releasing after a wait
UPLOAD_POLL_S = 5.0  # between looks at the run's upload state while an upload Lambda may run
HISTORY_PAGE = 1000  # the newest events: an in-flight task is among the last few

_SCHEDULED = frozenset({"LambdaFunctionScheduled", "TaskScheduled"})
_STARTED = frozenset({"LambdaFunctionStarted", "TaskStarted"})
_TASK_ENDED = frozenset(
    {
        "LambdaFunctionSucceeded",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionScheduleFailed",
        "LambdaFunctionStartFailed",
        "TaskSucceeded",
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
    }
)
_CAUSES = {
    "ABORTED": "the execution was stopped (StopExecution)",
    "TIMED_OUT": "the execution ran past the state machine's TimeoutSeconds",
    "FAILED": "the execution failed without recording the run (an error no Catch handles, or its input)",
}


class NotAnExecutionEnd(ClaimsyncError):
    """The event is not a Step Functions execution status change this function can act on."""


class UploadStillRunning(ClaimsyncError):
    """An upload Lambda of the run may still be running past this invocation's time. The invocation
    fails and Lambda's asynchronous retry brings the event back (no state machine retries it, so it
    is not ``transient`` in claimsync.errors' sense)."""


@dataclass(frozen=True)
class ExecutionEnd:
    """The fields of a "Step Functions Execution Status Change" event this function uses."""

    execution_arn: str
    run_id: str  # the execution name
    status: str
    started_at: str  # AWS's context-object format, as the state machine's own records
    stopped_at: str
    error: str  # the error name (class) only; the cause stays in the execution history

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ExecutionEnd:
        if event.get("detail-type") != layout.EXECUTION_STATUS_CHANGE or event.get("source") != "aws.states":
            raise NotAnExecutionEnd("not a Step Functions Execution Status Change event")
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            raise NotAnExecutionEnd("the event has no detail")
        try:
            arn, name, status = str(detail["executionArn"]), str(detail["name"]), str(detail["status"])
            started = _iso(detail["startDate"])
            stopped = _iso(detail.get("stopDate") or detail["startDate"])
        except (KeyError, TypeError, ValueError) as exc:
            raise NotAnExecutionEnd(f"the event's detail lacks or garbles {exc}") from None
        if not name or not arn.endswith(f":{name}"):
            raise NotAnExecutionEnd("the execution name does not match its ARN")
        return cls(arn, name, status, started, stopped, str(detail.get("error") or ""))

    @property
    def abnormal(self) -> bool:
        return self.status in layout.ABNORMAL_END_STATUSES


def _iso(epoch_ms: Any) -> str:
    """Epoch milliseconds (the event's dates) -> ``2024-01-02T03:04:05.678Z``."""
    moment = dt.datetime.fromtimestamp(int(epoch_ms) / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --------------------------------------------------------------------------------------------------
# What the execution was doing when it ended (from its history)


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

    def ancestor(event: Mapping[str, Any], wanted: Callable[[str], bool]) -> Mapping[str, Any] | None:
        cursor: Mapping[str, Any] | None = event
        for _ in range(len(by_id)):  # bounded: a malformed history cannot loop
            if cursor is None or wanted(str(cursor["type"])):
                return cursor
            previous = int(cursor.get("previousEventId") or 0)
            cursor = by_id.get(previous) if previous != int(cursor["id"]) else None
        return None

    running: dict[int, float] = {}  # scheduled event id -> when its attempt started
    for event_id in sorted(by_id):
        event = by_id[event_id]
        kind = str(event["type"])
        if kind in _SCHEDULED:
            running[event_id] = _timestamp(event)
        elif kind in _STARTED or kind in _TASK_ENDED:
            scheduled = ancestor(event, lambda k: k in _SCHEDULED)
            if scheduled is not None and int(scheduled["id"]) in running:
                if kind in _STARTED:
                    running[int(scheduled["id"])] = _timestamp(event)
                else:
                    del running[int(scheduled["id"])]

    entered_ids = [i for i, e in by_id.items() if str(e["type"]).endswith("StateEntered")]
    last_state = str(by_id[max(entered_ids)]["stateEnteredEventDetails"]["name"]) if entered_ids else ""
    upload = None  # (started, until) of the latest upload attempt still running
    for scheduled_id, started in running.items():
        entered = ancestor(by_id[scheduled_id], lambda k: k.endswith("StateEntered"))
        name = str(entered["stateEnteredEventDetails"]["name"]) if entered else ""
        if name in UPLOAD_STATES and (upload is None or started > upload[0]):
            upload = (started, started + UPLOAD_STATES[name] + LAMBDA_GRACE_S)
    if upload is None:
        return LastActivity(last_state)
    return LastActivity(last_state, upload_running_until=upload[1], upload_started_at=upload[0])


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


# --------------------------------------------------------------------------------------------------
# Bulk jobs


def run_bulk_jobs(staging: Staging, run_id: str) -> list[str]:
    """The Bulk job ids of the run's open upload round (none before StartUpload staged them, none
    once CheckUpload collected every job's results)."""
    raw = staging.get_json_optional(layout.upload_state_key(run_id))
    if raw is None:
        return []
    state = from_payload(UploadState, raw)
    return [job.id for job in state.jobs] if state.mode == BULK else []


def abort_open_jobs(gw: SalesforceGateway, job_ids: Iterable[str]) -> tuple[list[str], int]:
    """Abort every job not yet finished. Returns (aborted ids, count already final or gone)."""
    aborted: list[str] = []
    final = 0
    for job_id in job_ids:
        try:
            if gw.bulk_job(job_id)["state"] in FINAL_JOB_STATES:
                final += 1
                continue
            gw.bulk_abort(job_id)
        except SalesforceNotFound:
            final += 1  # deleted: it can no longer land
            continue
        except SalesforceRequestError as exc:
            # 409 INVALIDJOBSTATE: it finished between the read and the abort.
            if exc.code != "INVALIDJOBSTATE" or gw.bulk_job(job_id)["state"] not in FINAL_JOB_STATES:
                raise
            final += 1
            continue
        aborted.append(job_id)
    return aborted, final


# --------------------------------------------------------------------------------------------------
# Run record


def record_end(
    dynamodb: Any, table: str, end: ExecutionEnd, failed_state: str, jobs_aborted: int, now: float
) -> bool:
    """Write the run's RUN item unless one exists. True when written, False when a record was kept."""
    where = f" in state {failed_state}" if failed_state else ""
    item = {
        layout.TABLE_PARTITION_KEY: {"S": layout.RUN_PK},
        layout.TABLE_SORT_KEY: {"S": end.run_id},
        "status": {"S": end.status},
        "error": {"S": end.error or f"Execution{end.status.title().replace('_', '')}"},
        "failed_state": {"S": failed_state},
        "cause": {"S": f"{_CAUSES.get(end.status, end.status)}{where}; recorded by AbnormalEnd"},
        "bulk_jobs_aborted": {"N": str(jobs_aborted)},
        "started_at": {"S": end.started_at},
        "finished_at": {"S": end.stopped_at},
        layout.TABLE_TTL_ATTRIBUTE: {"N": str(int(now) + RUN_RECORD_DAYS * 86_400)},
    }
    try:
        dynamodb.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(#sk)",
            ExpressionAttributeNames={"#sk": layout.TABLE_SORT_KEY},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True


# --------------------------------------------------------------------------------------------------
# The whole settlement


@dataclass(frozen=True)
class Settlement:
    run_id: str
    status: str
    action: str  # "settled" | "ignored" (not an abnormal end)
    failed_state: str = ""
    waited_s: float = 0.0
    jobs_aborted: tuple[str, ...] = ()
    jobs_final: int = 0
    record: str = ""  # "written" | "kept" (the state machine's own record)
    lock: str = ""  # "released" | "not held" (absent, or another run's)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["jobs_aborted"] = list(self.jobs_aborted)
        return data


def settle(
    end: ExecutionEnd,
    *,
    stepfunctions: Any,
    dynamodb: Any,
    table: str,
    staging: Staging,
    upload_saved_at: Callable[[], float | None],
    salesforce: Callable[[], SalesforceGateway],
    now: Callable[[], float],
    sleep: Callable[[float], None],
    remaining_s: Callable[[], float],
) -> Settlement:
    """Abort the run's open Bulk jobs, record its end, release its lock (see the module docstring).

    ``upload_saved_at`` tells when the run's upload state was last written (``upload_saved_at()``
    above); ``salesforce`` is called only when there is a job to look at (no login otherwise).
    """
    if not end.abnormal:
        return Settlement(end.run_id, end.status, "ignored")

    activity = last_activity(read_history(stepfunctions, end.execution_arn))
    waited = wait_for_upload_lambda(
        activity, saved_at=upload_saved_at, now=now, sleep=sleep, remaining_s=remaining_s
    )

    job_ids = run_bulk_jobs(staging, end.run_id)
    aborted, final = abort_open_jobs(salesforce(), job_ids) if job_ids else ([], 0)
    written = record_end(dynamodb, table, end, activity.state, len(aborted), now())
    released = runlock.release_lock(dynamodb, table, end.run_id)
    return Settlement(
        run_id=end.run_id,
        status=end.status,
        action="settled",
        failed_state=activity.state,
        waited_s=round(waited, 3),
        jobs_aborted=tuple(aborted),
        jobs_final=final,
        record="written" if written else "kept",
        lock="released" if released else "not held",
    )
