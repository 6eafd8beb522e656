"""One claim-sync run on the local world: start it, follow it, build its summary.

The local world is moto in server mode, so everything here is the operator code of
``claimsync.operator`` (the same functions ``claimsync sync`` uses against AWS) with boto3 clients
pointed at the endpoint of the endpoints file. What only the local world can add is the number of
HTTP requests the Salesforce emulator counted.

Used by ``claimsync local sync`` / ``claimsync sync --local`` (another process than ``local up``:
everything goes through the endpoints file), by ``make demo``, the benchmarks and the workflow tests
(same code, in-process).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import requests

from claimsync import layout
from claimsync.operator import execution
from claimsync.operator.deployment import Deployment
from claimsync.progress.tracker import ProgressTracker
from claimsync.progress.updates import Update

DEFAULT_DEADLINE_S = 600.0
POLL_S = 0.2
SUMMARY_KEYS = ("status", "rows_in", "sent", "unchanged", "rejected", "succeeded", "failed")
LOCAL_STACK = "local world"


def aws_client(endpoints: dict[str, Any], service: str) -> Any:
    aws = endpoints["aws"]
    endpoint_url = aws["endpoint_url"]
    if service == "stepfunctions" and aws.get("stepfunctions_endpoint"):
        endpoint_url = aws["stepfunctions_endpoint"]  # Step Functions Local (local/sfn_local.py)
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=aws["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
    )


def local_deployment(endpoints: dict[str, Any]) -> Deployment:
    """The local world's state machine, bucket and table, as a deployed stack's outputs name them."""
    aws = endpoints["aws"]
    return Deployment(
        stack_name=LOCAL_STACK,
        state_machine_arn=aws["state_machine_arn"],
        bucket=aws["bucket"],
        table=aws["table"],
    )


def salesforce_counters(endpoints: dict[str, Any]) -> dict[str, Any]:
    sf = endpoints["salesforce"]
    resp = requests.get(f"{sf['admin_url']}/counters", verify=sf["ca_cert"], timeout=30)
    resp.raise_for_status()
    counters: dict[str, Any] = resp.json()
    return counters


def _api_calls(before: dict[str, Any], after: dict[str, Any]) -> int:
    """Every HTTP request claimsync made to Salesforce, logins included."""

    def total(counters: dict[str, Any]) -> int:
        return int(counters.get("api_requests", 0)) + int(counters.get("logins", 0))

    return total(after) - total(before)


def start_sync(
    endpoints: dict[str, Any], *, full: bool = False, dry_run: bool = False, name: str = ""
) -> str:
    """Start one execution; returns its ARN (its name, the run id, is the ARN's last part)."""
    started = execution.start_sync(
        aws_client(endpoints, "stepfunctions"),
        local_deployment(endpoints),
        full_sync=full,
        dry_run=dry_run,
        run_id=name or None,
    )
    return started.execution_arn


def start_execution(endpoints: dict[str, Any], payload: Any, *, name: str = "") -> str:
    """Start an execution with any input (the workflow tests send invalid ones on purpose)."""
    sfn = aws_client(endpoints, "stepfunctions")
    arn: str = sfn.start_execution(
        stateMachineArn=endpoints["aws"]["state_machine_arn"],
        name=name or execution.new_run_id(kind="local"),
        input=json.dumps(payload),
    )["executionArn"]
    return arn


def follow(
    endpoints: dict[str, Any],
    execution_arn: str,
    *,
    on_progress: Callable[[Update], None] | None = None,
    deadline_s: float = DEFAULT_DEADLINE_S,
) -> None:
    """Follow the execution until it ends, telling ``on_progress`` what the history says.

    Past ``deadline_s``: ``execution.FollowDeadline`` (the run goes on in the world).
    """
    sfn = aws_client(endpoints, "stepfunctions")
    tracker = ProgressTracker(definition_for(sfn, execution_arn))
    for event in execution.follow_execution(sfn, execution_arn, deadline_s=deadline_s, poll_s=POLL_S):
        for update in tracker.feed(event):
            if on_progress is not None:
                on_progress(update)


def definition_for(stepfunctions: Any, execution_arn: str) -> dict[str, Any] | None:
    """The definition the execution runs; the repository's ASL if the service does not say."""
    definition = execution.execution_definition(stepfunctions, execution_arn)
    if definition is None and layout.ASL_PATH.exists():
        definition = json.loads(layout.ASL_PATH.read_text())
    return definition


def run_summary(
    endpoints: dict[str, Any],
    execution_arn: str,
    counters_before: dict[str, Any] | None,
    wall_s: float | None,
) -> dict[str, Any]:
    """The run's outcome (``execution.run_outcome``) plus what the local world measured: Salesforce
    API calls since ``counters_before`` and the client's wall time (both only for a run the caller
    started and followed)."""
    sfn = aws_client(endpoints, "stepfunctions")
    summary = execution.run_outcome(
        sfn, aws_client(endpoints, "s3"), local_deployment(endpoints), execution_arn
    )
    summary["execution"] = summary["run_id"]
    summary.update(execution.history_stats(execution.history_since(sfn, execution_arn)))
    if counters_before is not None:
        summary["salesforce_api_calls"] = _api_calls(counters_before, salesforce_counters(endpoints))
    if wall_s is not None:
        summary["duration_s"] = round(wall_s, 3)
    return summary


def run_sync(
    endpoints: dict[str, Any],
    *,
    full: bool = False,
    dry_run: bool = False,
    on_progress: Callable[[Update], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    deadline_s: float = DEFAULT_DEADLINE_S,
) -> dict[str, Any]:
    """Start a run, follow it to its end, and return its summary (see docs/local-world.md)."""
    before = salesforce_counters(endpoints)
    started = time.monotonic()
    arn = start_sync(endpoints, full=full, dry_run=dry_run)
    if on_start is not None:
        on_start(arn.rsplit(":", 1)[-1])
    follow(endpoints, arn, on_progress=on_progress, deadline_s=deadline_s)
    return run_summary(endpoints, arn, before, time.monotonic() - started)
