"""Operator verbs against a deployed claim sync: start a run, list runs, fetch a run's reports.

Domain functions over boto3 clients passed in (the CLI builds them; tests pass moto's). They find
the deployed resources through the claim-sync stack's CloudFormation outputs, so an operator only
needs the stack name (default ``Claimsync-ClaimSync``) and read access to it.

- ``sync``: start one execution of the state machine, named (the run id), with input ``{}``,
  ``{"full_sync": true}`` or ``{"dry_run": true}``.
- ``runs``: the run records in the sync table (``pk = "RUN"``), newest first.
- ``failures``: a run's ``failures.csv`` and ``rejects.csv`` from ``reports/<run_id>/`` in S3.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from claimsync import layout

DEFAULT_STACK_NAME = "Claimsync-ClaimSync"
# CfnOutput names of the claim-sync stack (stacks/sync_stack.py).
OUTPUT_STATE_MACHINE = "StateMachineArn"
OUTPUT_BUCKET = "StagingBucketName"
OUTPUT_TABLE = "SyncTableName"
REPORT_FILES = ("failures.csv", "rejects.csv")


class OperatorError(Exception):
    """Something the operator can fix (wrong stack name, unknown run, stack not deployed)."""


@dataclass(frozen=True)
class Deployment:
    stack_name: str
    state_machine_arn: str
    bucket: str
    table: str


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

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
        if self.summary:
            data["summary"] = self.summary
        if self.status == "FAILED":
            data.update(failed_state=self.failed_state, error=self.error, cause=self.cause)
        return data


# ---- finding the deployment ------------------------------------------------------------------------
def find_deployment(cloudformation: Any, stack_name: str = DEFAULT_STACK_NAME) -> Deployment:
    """The state machine, bucket and table of the deployed claim-sync stack, from its outputs."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
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


def recent_runs(dynamodb: Any, deployment: Deployment, *, limit: int = 20) -> list[RunRecord]:
    """Run records, newest first by start time (scheduled run ids are not time-ordered)."""
    records = [record_from_item(item) for item in _run_items(dynamodb, deployment.table)]
    records.sort(key=lambda r: (r.started_at, r.run_id), reverse=True)
    return records[:limit]


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
