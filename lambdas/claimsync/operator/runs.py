"""The runs of a claim sync: their records in the sync table, the executions still running, and
the files a run wrote to ``reports/<run_id>/`` (``claimsync runs``, ``claimsync failures``).

A run record is the ``RUN`` item the state machine (``RecordRun``, ``RecordFailure``) or AbnormalEnd
writes when the run ends; a run still going has none yet, so ``recent_runs`` adds the executions
running now.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from claimsync import layout
from claimsync.operator.deployment import Deployment, OperatorError

REPORT_FILES = ("failures.csv", "rejects.csv")


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


def timestamp(value: Any) -> str:
    """A time of the Step Functions API as a run record has its times (``2024-01-02T03:04:05.678Z``)."""
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
                    started_at=timestamp(execution.get("startDate")),
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
