"""The settlement of a run that ended abnormally (see ``claimsync.runend``): wait out an upload
Lambda, abort the run's open Bulk jobs, record the run's end, release its lock -- in that order,
each step safe to repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from claimsync import layout, runlock
from claimsync.runend.activity import last_activity, read_history, wait_for_upload_lambda
from claimsync.runend.event import ExecutionEnd
from claimsync.salesforce.errors import SalesforceNotFound, SalesforceRequestError
from claimsync.salesforce.gateway import SalesforceGateway
from claimsync.staging import Staging
from claimsync.steps.contract import from_payload
from claimsync.steps.run import RUN_RECORD_DAYS
from claimsync.steps.upload import BULK, UploadState

FINAL_JOB_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
_CAUSES = {
    "ABORTED": "the execution was stopped (StopExecution)",
    "TIMED_OUT": "the execution ran past the state machine's TimeoutSeconds",
    "FAILED": "the execution failed without recording the run (an error no Catch handles, or its input)",
}


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
    """Abort the run's open Bulk jobs, record its end, release its lock (see ``claimsync.runend``).

    ``upload_saved_at`` tells when the run's upload state was last written (``activity.upload_saved_at``
    over S3); ``salesforce`` is called only when there is a job to look at (no login otherwise).
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
