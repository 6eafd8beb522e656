"""Start a run and follow it (``claimsync sync``): its execution, history and outcome.

A run is one execution of the state machine, named by its run id (the S3 prefix and run record
key of everything it writes). Following reads the execution history only, so the same code follows
a run in AWS and in the local world, and ``history_stats`` counts what Step Functions bills.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from claimsync.history import TASK_SCHEDULED, entered_state, is_state_entered, json_object
from claimsync.operator.deployment import Deployment, OperatorError
from claimsync.operator.runs import timestamp
from claimsync.progress.error_texts import cause_message

RUNNING_STATUSES = frozenset({"RUNNING", "PENDING_REDRIVE"})
ENDED_EVENTS = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"})
DESCRIBE_EVERY = 10  # polls of the history per DescribeExecution while following
HISTORY_FIRST_PAGE = 20  # the newest events, asked first: a poll of a followed run sees only a few new
HISTORY_PAGE = 100  # then pages of this many, while they are all new (a Map's burst)
HISTORY_EVENTS_MAX = 25_000  # Step Functions' limit per execution (bounds the paging)


class FollowDeadline(Exception):
    """The client stopped waiting for a run; the run itself goes on."""

    def __init__(self, run_id: str, waited_s: float) -> None:
        super().__init__(f"run {run_id} was still running after {waited_s:g} s")
        self.run_id = run_id
        self.waited_s = waited_s


@dataclass(frozen=True)
class StartedRun:
    run_id: str
    execution_arn: str
    input: dict[str, bool]
    started_at: str


# ---- starting a run --------------------------------------------------------------------------------
def run_input(*, full_sync: bool = False, dry_run: bool = False) -> dict[str, bool]:
    """The execution input the state machine accepts: ``{}``, ``{"full_sync": true}``, ``{"dry_run": true}``."""
    data: dict[str, bool] = {}
    if full_sync:
        data["full_sync"] = True
    if dry_run:
        data["dry_run"] = True
    return data


def new_run_id(now: datetime | None = None, *, kind: str = "manual") -> str:
    """An execution name: sortable by time, unique, within Step Functions' 80 allowed characters."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{kind}-{moment:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def start_sync(
    stepfunctions: Any,
    deployment: Deployment,
    *,
    full_sync: bool = False,
    dry_run: bool = False,
    run_id: str | None = None,
) -> StartedRun:
    """Start one named execution; its name is the run id (S3 prefix and run record key)."""
    payload = run_input(full_sync=full_sync, dry_run=dry_run)
    name = run_id or new_run_id(kind="dry-run" if dry_run else "full" if full_sync else "manual")
    response = stepfunctions.start_execution(
        stateMachineArn=deployment.state_machine_arn, name=name, input=json.dumps(payload)
    )
    started = response["startDate"]
    return StartedRun(
        run_id=name,
        execution_arn=response["executionArn"],
        input=payload,
        started_at=started.isoformat() if isinstance(started, datetime) else str(started),
    )


# ---- following a run -------------------------------------------------------------------------------
def execution_arn(deployment: Deployment, run_id: str) -> str:
    """The execution ARN of a run: the run id is the execution's name."""
    if not run_id or "/" in run_id or ":" in run_id:
        raise OperatorError(f"not a run id: {run_id!r}")
    return deployment.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + run_id


def history_since(stepfunctions: Any, arn: str, after_id: int = 0) -> list[dict[str, Any]]:
    """History events with ids above ``after_id``, oldest first.

    Pages newest first and stops at the first page that reaches ``after_id``, so following a long
    run reads only what is new. (Servers that ignore ``reverseOrder`` answer oldest first; the
    events are filtered and sorted either way.)
    """
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": HISTORY_FIRST_PAGE, "reverseOrder": True}
    for _ in range(HISTORY_EVENTS_MAX // HISTORY_PAGE + 2):
        page = stepfunctions.get_execution_history(**kwargs)
        batch = page.get("events", [])
        events.extend(e for e in batch if int(e["id"]) > after_id)
        token = page.get("nextToken")
        if not token or any(int(e["id"]) <= after_id for e in batch):
            break
        kwargs.update(nextToken=token, maxResults=HISTORY_PAGE)
    events.sort(key=lambda e: int(e["id"]))
    return events


def follow_execution(
    stepfunctions: Any,
    arn: str,
    *,
    deadline_s: float,
    poll_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[dict[str, Any]]:
    """Yield each history event once, in order, until the execution has ended (then return).

    Past ``deadline_s`` raises :class:`FollowDeadline`: the client stops waiting, the run goes on.
    """
    give_up = clock() + deadline_s
    last_id = 0
    for polls in itertools.count():
        # The history's last event says when the execution ended; DescribeExecution (read before the
        # history, so nothing is missed) is asked only now and then, for a server whose history would
        # not: half the calls of asking both on every poll.
        status = (
            stepfunctions.describe_execution(executionArn=arn)["status"]
            if polls % DESCRIBE_EVERY == 0
            else None
        )
        ended = False
        for event in history_since(stepfunctions, arn, last_id):
            last_id = int(event["id"])
            ended = ended or event["type"] in ENDED_EVENTS
            yield event
        if ended or (status is not None and status not in RUNNING_STATUSES):
            return
        if clock() >= give_up:
            raise FollowDeadline(arn.rsplit(":", 1)[-1], deadline_s)
        sleep(poll_s)


def execution_definition(stepfunctions: Any, arn: str) -> dict[str, Any] | None:
    """The definition the execution runs (its retry limits and waits), or None if not readable."""
    try:
        text = stepfunctions.describe_state_machine_for_execution(executionArn=arn)["definition"]
        definition = json.loads(text)
    except (stepfunctions.exceptions.ClientError, KeyError, ValueError):
        return None
    return definition if isinstance(definition, dict) else None


def history_stats(events: list[dict[str, Any]]) -> dict[str, int]:
    """State transitions as Step Functions bills them (states entered + task retries) and events."""
    entered = sum(1 for e in events if is_state_entered(str(e["type"])))
    by_id = {int(e["id"]): e for e in events}
    attempts: Counter[int] = Counter()  # StateEntered event id -> task attempts scheduled in it
    for event in events:
        if event["type"] in TASK_SCHEDULED:
            state = entered_state(by_id, event)
            if state is not None:
                attempts[int(state["id"])] += 1
    retries = sum(n - 1 for n in attempts.values() if n > 1)
    return {"state_transitions": entered + retries, "retries": retries, "history_events": len(events)}


# ---- how it ended ----------------------------------------------------------------------------------
def run_outcome(stepfunctions: Any, s3: Any, deployment: Deployment, arn: str) -> dict[str, Any]:
    """How a run ended (or that it is still going), from DescribeExecution and the run's summary.

    ``status`` is the run's (``SUCCEEDED``, ``PARTIAL``, ``DRY_RUN``, ``ALREADY_RUNNING``) when the
    execution succeeded, ``RUNNING`` while it runs, else ``FAILED`` with ``execution_status``
    (``FAILED``, ``TIMED_OUT``, ``ABORTED``), ``error`` and ``cause`` (the message, no stack trace).
    """
    described = stepfunctions.describe_execution(executionArn=arn)
    outcome = _execution_times(described, arn)
    if described["status"] in RUNNING_STATUSES:
        outcome["status"] = "RUNNING"
        return outcome
    if described["status"] != "SUCCEEDED":
        outcome["status"] = "FAILED"  # execution_status says how: FAILED, TIMED_OUT or ABORTED
        cause = cause_message(described.get("cause"), limit=None)
        outcome.update(error=described.get("error"), cause=cause)
        return outcome
    output = json_object(described.get("output") or "{}")
    if output.get("status") == "ALREADY_RUNNING":
        outcome["status"] = "ALREADY_RUNNING"
        return outcome
    full = _run_summary(s3, deployment, output)
    outcome.update(full if full is not None else output)
    outcome["run_id"] = described.get("name") or outcome.get("run_id")
    outcome.setdefault("status", "SUCCEEDED")  # an output without a run summary (not a claim sync?)
    return outcome


def _execution_times(described: dict[str, Any], arn: str) -> dict[str, Any]:
    """The run id, execution status and times of a DescribeExecution answer."""
    start, stop = described.get("startDate"), described.get("stopDate")
    return {
        "run_id": described.get("name") or arn.rsplit(":", 1)[-1],
        "execution_status": described["status"],
        "started_at": timestamp(start),
        "stopped_at": timestamp(stop),
        "execution_duration_s": (stop - start).total_seconds()
        if isinstance(start, datetime) and isinstance(stop, datetime)
        else None,
    }


def _run_summary(s3: Any, deployment: Deployment, output: dict[str, Any]) -> dict[str, Any] | None:
    """The run's ``summary.json`` the execution output points to; None when it cannot be read."""
    summary_uri = str((output.get("reports") or {}).get("summary") or "")
    if not summary_uri.startswith(f"s3://{deployment.bucket}/"):
        return None
    key = summary_uri.split("/", 3)[3]
    try:
        full = json.loads(s3.get_object(Bucket=deployment.bucket, Key=key)["Body"].read())
    except (s3.exceptions.ClientError, ValueError):
        return None  # no read access to the reports: the execution output has the counts
    return full if isinstance(full, dict) else None
