"""Operator verbs against a claim sync: start a run, follow it, list runs, fetch a run's reports.

Domain functions over boto3 clients passed in (the CLI builds them; tests pass moto's). The same
functions serve a deployed stack and the local world: only the clients' endpoint and the
:class:`Deployment` differ. A deployed stack is found through its CloudFormation outputs, so an
operator only needs the stack name (default ``Claimsync-ClaimSync``) and read access to it; the
local world's endpoints file names the same three resources.

- ``sync``: start one execution of the state machine, named (the run id), with input ``{}``,
  ``{"full_sync": true}`` or ``{"dry_run": true}``; follow its history (``follow_execution``) and
  read its outcome (``run_outcome``).
- ``runs``: the run records in the sync table (``pk = "RUN"``), newest first, with the runs still
  going.
- ``failures``: a run's ``failures.csv`` and ``rejects.csv`` from ``reports/<run_id>/`` in S3.
- ``unlock``: remove the lock of a run that has ended (owner-conditional); ``refusal_line`` names
  the lock's holder for a run that ended ALREADY_RUNNING; ``lock_outcome`` follows a started run
  until it holds the lock or is refused.
- ``claim``: one claim's story over the last runs, from each run's claim index
  (``reports/<run_id>/claims/<page>.json``, sharded like the snapshot: ``claim_page``), and the
  claim's record in Salesforce now (``salesforce_claim``: one SOQL query).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from claimsync import layout, runlock
from claimsync.progress import cause_message
from claimsync.staging import claim_bucket
from claimsync.transform import external_id_key

DEFAULT_STACK_NAME = "Claimsync-ClaimSync"
# CfnOutput names of the claim-sync stack (stacks/sync_stack.py).
OUTPUT_STATE_MACHINE = "StateMachineArn"
OUTPUT_BUCKET = "StagingBucketName"
OUTPUT_TABLE = "SyncTableName"
# optional: stacks deployed before `claimsync claim` lack it. An output name, not a secret:
OUTPUT_SALESFORCE_SECRET = "SalesforceSecretArn"  # noqa: S105
REPORT_FILES = ("failures.csv", "rejects.csv")
RUNNING_STATUSES = frozenset({"RUNNING", "PENDING_REDRIVE"})


class OperatorError(Exception):
    """Something the operator can fix (wrong stack name, unknown run, stack not deployed)."""


class FollowDeadline(Exception):
    """The client stopped waiting for a run; the run itself goes on."""

    def __init__(self, run_id: str, waited_s: float) -> None:
        super().__init__(f"run {run_id} was still running after {waited_s:g} s")
        self.run_id = run_id
        self.waited_s = waited_s


@dataclass(frozen=True)
class Deployment:
    stack_name: str
    state_machine_arn: str
    bucket: str
    table: str
    salesforce_secret: str = ""  # the Salesforce secret's ARN (``claimsync claim`` reads the record)


@dataclass(frozen=True)
class StartedRun:
    run_id: str
    execution_arn: str
    input: dict[str, bool]
    started_at: str


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    status: str
    started_at: str = ""
    finished_at: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    failed_state: str = ""
    error: str = ""
    cause: str = ""

    @property
    def duration_s(self) -> float | None:
        start, end = parse_time(self.started_at), parse_time(self.finished_at)
        return (end - start).total_seconds() if start and end else None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": self.duration_s,
        }
        if self.summary:
            data["summary"] = self.summary
        if self.status in layout.ABNORMAL_END_STATUSES:
            data.update(failed_state=self.failed_state, error=self.error, cause=self.cause)
        return data


# ---- finding the deployment ------------------------------------------------------------------------
def find_deployment(cloudformation: Any, stack_name: str = DEFAULT_STACK_NAME) -> Deployment:
    """The state machine, bucket and table of the deployed claim-sync stack, from its outputs."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
        if exc.response["Error"].get("Code") != "ValidationError":
            raise  # access denied, expired token, ...: not the operator's stack name
        raise OperatorError(f"stack {stack_name!r} not found: {exc.response['Error']['Message']}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [k for k in (OUTPUT_STATE_MACHINE, OUTPUT_BUCKET, OUTPUT_TABLE) if k not in outputs]
    if missing:
        raise OperatorError(f"stack {stack_name!r} has no outputs {missing}: is it the claim-sync stack?")
    return Deployment(
        stack_name=stack_name,
        state_machine_arn=outputs[OUTPUT_STATE_MACHINE],
        bucket=outputs[OUTPUT_BUCKET],
        table=outputs[OUTPUT_TABLE],
        salesforce_secret=outputs.get(OUTPUT_SALESFORCE_SECRET, ""),
    )


# ---- sync ------------------------------------------------------------------------------------------
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


# ---- runs ------------------------------------------------------------------------------------------
def _string(item: dict[str, Any], name: str) -> str:
    value = item.get(name, {})
    return str(value.get("S", value.get("N", "")))


def _run_items(dynamodb: Any, table: str) -> Iterator[dict[str, Any]]:
    paginator = dynamodb.get_paginator("query")
    for page in paginator.paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": layout.RUN_PK}},
    ):
        yield from page["Items"]


def record_from_item(item: dict[str, Any]) -> RunRecord:
    raw_summary = _string(item, "summary")
    try:
        summary = json.loads(raw_summary) if raw_summary else {}
    except json.JSONDecodeError:
        summary = {"unparsed": raw_summary}
    return RunRecord(
        run_id=_string(item, layout.TABLE_SORT_KEY),
        status=_string(item, "status"),
        started_at=_string(item, "started_at"),
        finished_at=_string(item, "finished_at"),
        summary=summary if isinstance(summary, dict) else {"value": summary},
        failed_state=_string(item, "failed_state"),
        error=_string(item, "error"),
        cause=_string(item, "cause"),
    )


def parse_time(text: str) -> datetime | None:
    """A run record's timestamp (``2024-01-02T03:04:05.678Z``) as an aware datetime; else None."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _timestamp(value: Any) -> str:
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    return str(value or "")


def recent_runs(
    dynamodb: Any, deployment: Deployment, *, limit: int = 20, stepfunctions: Any = None
) -> list[RunRecord]:
    """Run records, newest first by start time (scheduled run ids are not time-ordered).

    With ``stepfunctions``, the executions still running (which have no record yet) come first.
    """
    records = [record_from_item(item) for item in _run_items(dynamodb, deployment.table)]
    if stepfunctions is not None:
        known = {r.run_id for r in records}
        records.extend(r for r in running_runs(stepfunctions, deployment) if r.run_id not in known)
    records.sort(key=lambda r: (r.started_at, r.run_id), reverse=True)
    return records[:limit]


def running_runs(stepfunctions: Any, deployment: Deployment) -> list[RunRecord]:
    """The executions of the state machine that are running now, as records without counts."""
    paginator = stepfunctions.get_paginator("list_executions")
    runs = []
    for page in paginator.paginate(stateMachineArn=deployment.state_machine_arn, statusFilter="RUNNING"):
        for execution in page["executions"]:
            runs.append(
                RunRecord(
                    run_id=execution["name"],
                    status="RUNNING",
                    started_at=_timestamp(execution.get("startDate")),
                )
            )
    return runs


def get_run(dynamodb: Any, deployment: Deployment, run_id: str) -> RunRecord:
    item = dynamodb.get_item(
        TableName=deployment.table,
        Key={layout.TABLE_PARTITION_KEY: {"S": layout.RUN_PK}, layout.TABLE_SORT_KEY: {"S": run_id}},
        ConsistentRead=True,
    ).get("Item")
    if not item:
        raise OperatorError(f"no run record {run_id!r} (still running, never started, or expired)")
    return record_from_item(item)


# ---- failures --------------------------------------------------------------------------------------
def run_report(s3: Any, deployment: Deployment, run_id: str, name: str) -> str | None:
    """One file of ``reports/<run_id>/`` as text, or ``None`` when the run wrote none."""
    try:
        body = s3.get_object(Bucket=deployment.bucket, Key=layout.report_key(run_id, name))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return str(body.decode("utf-8"))


def run_failures(s3: Any, deployment: Deployment, run_id: str) -> dict[str, str | None]:
    """``failures.csv`` and ``rejects.csv`` of a run (``None`` for a file the run did not write)."""
    if "/" in run_id or not run_id:
        raise OperatorError(f"not a run id: {run_id!r}")
    reports = {name: run_report(s3, deployment, run_id, name) for name in REPORT_FILES}
    if (
        all(v is None for v in reports.values())
        and run_report(s3, deployment, run_id, "summary.json") is None
    ):
        raise OperatorError(
            f"run {run_id!r} has no reports in s3://{deployment.bucket}/{layout.REPORTS_PREFIX}"
        )
    return reports


# ---- one claim's story -----------------------------------------------------------------------------
# What a run's claim index says about a claim (``ClaimInRun.index``).
INDEX_FOUND = (
    "found"  # the index was read: ``rows`` are the report rows that carried the claim (none: absent)
)
INDEX_EXPIRED = "expired"  # the run's reports have expired (reports_expiry_days)
INDEX_NOT_WRITTEN = "not_written"  # the run has its summary but no claim index (it predates claim indexes)
INDEX_NO_REPORT = "no_report"  # the run wrote no report: still running, or failed before FinishRun


@dataclass(frozen=True)
class ClaimInRun:
    """What one run did with one claim, from the run's claim index.

    ``rows`` are the index entries of the report rows that carried the claim (a claim repeated in the
    report has a rejected ``DUPLICATE`` row and the row that counted): ``{"claim", "row"?, "outcome":
    rejected|unchanged|new|changed, "reasons"?, "payor"?, "result"?: succeeded|failed|dry_run,
    "error"?}`` (``claimsync.steps.page.claim_index`` and ``steps.finish``)."""

    run: RunRecord
    index: str
    rows: tuple[dict[str, Any], ...] = ()
    page: int | None = None

    @property
    def in_report(self) -> bool | None:
        """Whether the run's report had the claim; None when the run's index cannot say."""
        return bool(self.rows) if self.index == INDEX_FOUND else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run.run_id,
            "status": self.run.status,
            "started_at": self.run.started_at,
            "finished_at": self.run.finished_at,
            "dry_run": bool(self.run.summary.get("dry_run")),
            "index": self.index,
            "in_report": self.in_report,
            "page": self.page,
            "rows": [dict(row) for row in self.rows],
        } | ({"failed_state": self.run.failed_state, "error": self.run.error} if self.run.error else {})


@dataclass(frozen=True)
class SalesforceClaim:
    """The claim's ``Claim__c`` record now (field names from the claim mapping)."""

    record_id: str
    last_sync_run: str | None
    payor_mapping_status: str | None
    payor_record_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "last_sync_run": self.last_sync_run,
            "payor_mapping_status": self.payor_mapping_status,
            "payor_record_id": self.payor_record_id,
        }


def claim_key(claim_id: str) -> str:
    """The key a claim has in the claim index (and in the snapshot): trimmed, case folded."""
    key = external_id_key(claim_id.strip())
    if not key:
        raise OperatorError("a claim id is needed (the ClaimID of the CollaborateMD report)")
    return key


def claim_page(claim_id: str, page_count: int) -> int:
    """The page (and claim-index shard) of a claim in a run of ``page_count`` pages."""
    return claim_bucket(claim_key(claim_id), page_count)


def _json_report(s3: Any, deployment: Deployment, key: str) -> Any:
    try:
        body = s3.get_object(Bucket=deployment.bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body)


def _page_count(s3: Any, deployment: Deployment, record: RunRecord) -> int | None:
    """The run's page count: from its record, else (a run that failed after FinishRun) summary.json."""
    count = record.summary.get("page_count")
    if not isinstance(count, int) and record.status != "RUNNING":
        summary = _json_report(s3, deployment, layout.report_key(record.run_id, "summary.json"))
        count = summary.get("page_count") if isinstance(summary, dict) else None
    return count if isinstance(count, int) and count > 0 else None


def claim_in_run(s3: Any, deployment: Deployment, record: RunRecord, claim_id: str) -> ClaimInRun:
    """Read one shard of the run's claim index: the one that holds ``claim_id``."""
    key = claim_key(claim_id)
    page_count = _page_count(s3, deployment, record)
    if page_count is None:
        return ClaimInRun(record, INDEX_NO_REPORT)
    page = claim_bucket(key, page_count)
    shard = _json_report(s3, deployment, layout.claim_index_key(record.run_id, page))
    if not isinstance(shard, dict):
        has_summary = run_report(s3, deployment, record.run_id, "summary.json") is not None
        return ClaimInRun(record, INDEX_NOT_WRITTEN if has_summary else INDEX_EXPIRED, page=page)
    rows = shard.get(key) or []
    return ClaimInRun(record, INDEX_FOUND, tuple(r for r in rows if isinstance(r, dict)), page)


def claim_story(
    s3: Any,
    dynamodb: Any,
    deployment: Deployment,
    claim_id: str,
    *,
    runs: int = 5,
    stepfunctions: Any = None,
) -> list[ClaimInRun]:
    """What each of the last ``runs`` runs did with the claim, newest first (one S3 read per run)."""
    claim_key(claim_id)  # refuse an empty id before any call
    records = recent_runs(dynamodb, deployment, limit=runs, stepfunctions=stepfunctions)
    return [claim_in_run(s3, deployment, record, claim_id) for record in records]


def soql_string(value: str) -> str:
    """``value`` as a SOQL string literal: quotes, backslashes and control characters escaped."""
    escapes = {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\b": "\\b",
        "\f": "\\f",
    }
    return "'" + "".join(escapes.get(c, c) for c in value) + "'"


def salesforce_claim(gateway: Any, mapping: Any, claim_id: str) -> SalesforceClaim | None:
    """The claim's record in Salesforce now, by its external id: one SOQL query (None: no record).

    ``gateway`` is a ``claimsync.salesforce.SalesforceGateway``, ``mapping`` the ``ClaimMapping``
    whose object and field names the sync writes."""
    run_field, payor = mapping.run_field.field, mapping.payor
    # Names from the mapping; the one literal is escaped by soql_string.
    fields = f"Id, {run_field}, {payor.status_field}, {payor.lookup_field}"
    where = f"{mapping.external_id_field} = {soql_string(claim_id.strip())}"
    soql = f"SELECT {fields} FROM {mapping.object_name} WHERE {where} LIMIT 1"  # noqa: S608
    records = gateway.query_page(soql).get("records") or []
    if not records:
        return None
    record = records[0]
    return SalesforceClaim(
        record_id=str(record.get("Id") or ""),
        last_sync_run=record.get(run_field),
        payor_mapping_status=record.get(payor.status_field),
        payor_record_id=record.get(payor.lookup_field),
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
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000, "reverseOrder": True}
    while True:
        page = stepfunctions.get_execution_history(**kwargs)
        batch = page.get("events", [])
        events.extend(e for e in batch if int(e["id"]) > after_id)
        token = page.get("nextToken")
        if not token or any(int(e["id"]) <= after_id for e in batch):
            break
        kwargs["nextToken"] = token
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
    while True:
        status = stepfunctions.describe_execution(executionArn=arn)["status"]
        for event in history_since(stepfunctions, arn, last_id):
            last_id = int(event["id"])
            yield event
        if status not in RUNNING_STATUSES:
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
    entered = sum(1 for e in events if str(e["type"]).endswith("StateEntered"))
    by_id = {int(e["id"]): e for e in events}
    attempts: dict[int, int] = {}
    for event in events:
        if event["type"] not in ("LambdaFunctionScheduled", "TaskScheduled", "ActivityScheduled"):
            continue
        cursor: dict[str, Any] | None = event
        while cursor is not None and not str(cursor["type"]).endswith("StateEntered"):
            cursor = by_id.get(int(cursor.get("previousEventId") or 0))
        if cursor is not None:
            attempts[int(cursor["id"])] = attempts.get(int(cursor["id"]), 0) + 1
    retries = sum(n - 1 for n in attempts.values() if n > 1)
    return {"state_transitions": entered + retries, "retries": retries, "history_events": len(events)}


def run_outcome(stepfunctions: Any, s3: Any, deployment: Deployment, arn: str) -> dict[str, Any]:
    """How a run ended (or that it is still going), from DescribeExecution and the run's summary.

    ``status`` is the run's (``SUCCEEDED``, ``PARTIAL``, ``DRY_RUN``, ``ALREADY_RUNNING``) when the
    execution succeeded, ``RUNNING`` while it runs, else ``FAILED`` with ``execution_status``
    (``FAILED``, ``TIMED_OUT``, ``ABORTED``), ``error`` and ``cause`` (the message, no stack trace).
    """
    described = stepfunctions.describe_execution(executionArn=arn)
    start, stop = described.get("startDate"), described.get("stopDate")
    outcome: dict[str, Any] = {
        "run_id": described.get("name") or arn.rsplit(":", 1)[-1],
        "execution_status": described["status"],
        "started_at": _timestamp(start),
        "stopped_at": _timestamp(stop),
        "execution_duration_s": (stop - start).total_seconds()
        if isinstance(start, datetime) and isinstance(stop, datetime)
        else None,
    }
    if described["status"] in RUNNING_STATUSES:
        outcome["status"] = "RUNNING"
        return outcome
    if described["status"] != "SUCCEEDED":
        outcome["status"] = "FAILED"  # execution_status says how: FAILED, TIMED_OUT or ABORTED
        cause = cause_message(described.get("cause"), limit=None)
        outcome.update(error=described.get("error"), cause=cause)
        return outcome
    try:
        output = json.loads(described.get("output") or "{}")
    except ValueError:
        output = {}
    output = output if isinstance(output, dict) else {}
    if output.get("status") == "ALREADY_RUNNING":
        outcome["status"] = "ALREADY_RUNNING"
        return outcome
    full = None
    summary_uri = str((output.get("reports") or {}).get("summary") or "")
    if summary_uri.startswith(f"s3://{deployment.bucket}/"):
        key = summary_uri.split("/", 3)[3]
        try:
            full = json.loads(s3.get_object(Bucket=deployment.bucket, Key=key)["Body"].read())
        except (s3.exceptions.ClientError, ValueError):
            full = None  # no read access to the reports: the execution output has the counts
    outcome.update(full if isinstance(full, dict) else output)
    outcome["run_id"] = described.get("name") or outcome.get("run_id")
    outcome.setdefault("status", "SUCCEEDED")  # an output without a run summary (not a claim sync?)
    return outcome


# ---- the lock: refused runs and unlock -------------------------------------------------------------
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
