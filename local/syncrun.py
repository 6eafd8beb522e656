"""Start one claim-sync execution on the local world, follow it, and build its summary.

Used by ``claimsync local sync`` (another process than ``local up``: everything goes through the
endpoints file, boto3 against the local AWS endpoint and the emulators' admin interfaces) and by the
workflow tests (same code, in-process).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import boto3
import requests

from local.aws import execution_summary, follow_execution

DEFAULT_DEADLINE_S = 600.0
SUMMARY_KEYS = ("status", "rows_in", "sent", "unchanged", "rejected", "succeeded", "failed")


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


def salesforce_counters(endpoints: dict[str, Any]) -> dict[str, Any]:
    sf = endpoints["salesforce"]
    resp = requests.get(f"{sf['admin_url']}/counters", verify=sf["ca_cert"], timeout=30)
    resp.raise_for_status()
    counters: dict[str, Any] = resp.json()
    return counters


def _api_calls(before: dict[str, Any], after: dict[str, Any]) -> int:
    """Every HTTP request claimsync made to Salesforce, logins included."""
    total = lambda c: int(c.get("api_requests", 0)) + int(c.get("logins", 0))  # noqa: E731
    return total(after) - total(before)


def start_sync(
    endpoints: dict[str, Any], *, full: bool = False, dry_run: bool = False, name: str = ""
) -> str:
    payload: dict[str, bool] = {}
    if full:
        payload["full_sync"] = True
    if dry_run:
        payload["dry_run"] = True
    return start_execution(endpoints, payload, name=name)


def start_execution(endpoints: dict[str, Any], payload: Any, *, name: str = "") -> str:
    sfn = aws_client(endpoints, "stepfunctions")
    name = name or f"local-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    arn: str = sfn.start_execution(
        stateMachineArn=endpoints["aws"]["state_machine_arn"], name=name, input=json.dumps(payload)
    )["executionArn"]
    return arn


def follow(
    endpoints: dict[str, Any],
    execution_arn: str,
    *,
    on_progress: Callable[[str], None] | None = None,
    deadline_s: float = DEFAULT_DEADLINE_S,
) -> None:
    """Report progress state by state, and pages done of the total during the Map."""
    sfn = aws_client(endpoints, "stepfunctions")
    pages_total, pages_done = 0, 0
    for event in follow_execution(sfn, execution_arn, deadline_s=deadline_s, poll_interval_s=0.2):
        if on_progress is None:
            continue
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            if name == "TransformPage":
                continue
            if name == "TransformPages":
                details = json.loads(event["stateEnteredEventDetails"].get("input") or "{}")
                pages_total = int(details.get("sources", {}).get("report", {}).get("page_count", 0))
            on_progress(name)
        elif kind == "MapIterationSucceeded":
            pages_done += 1
            on_progress(f"TransformPages: {pages_done}/{pages_total} pages")


def run_summary(
    endpoints: dict[str, Any], execution_arn: str, counters_before: dict[str, Any], wall_s: float
) -> dict[str, Any]:
    sfn = aws_client(endpoints, "stepfunctions")
    info = execution_summary(sfn, execution_arn)
    output = info["output"] if isinstance(info["output"], dict) else {}
    summary: dict[str, Any] = {"execution": info["name"], "execution_status": info["status"]}
    if info["status"] != "SUCCEEDED":
        summary.update(status="FAILED", error=info["error"], cause=_cause_message(info["cause"]))
    elif output.get("status") == "ALREADY_RUNNING":
        summary.update(status="ALREADY_RUNNING")
    else:
        s3 = aws_client(endpoints, "s3")
        key = output["reports"]["summary"].split("/", 3)[3]
        full = json.loads(s3.get_object(Bucket=endpoints["aws"]["bucket"], Key=key)["Body"].read())
        summary.update(full)
    summary["salesforce_api_calls"] = _api_calls(counters_before, salesforce_counters(endpoints))
    summary["state_transitions"] = info["state_transitions"]
    summary["history_events"] = info["history_event_count"]
    summary["duration_s"] = round(wall_s, 3)
    return summary


def _cause_message(cause: str | None) -> str | None:
    """The Lambda error's message (its type is in ``error``), without the stack trace."""
    try:
        parsed = json.loads(cause or "")
    except ValueError:
        return cause
    return str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else cause


def run_sync(
    endpoints: dict[str, Any],
    *,
    full: bool = False,
    dry_run: bool = False,
    on_progress: Callable[[str], None] | None = None,
    deadline_s: float = DEFAULT_DEADLINE_S,
) -> dict[str, Any]:
    before = salesforce_counters(endpoints)
    started = time.monotonic()
    arn = start_sync(endpoints, full=full, dry_run=dry_run)
    follow(endpoints, arn, on_progress=on_progress, deadline_s=deadline_s)
    return run_summary(endpoints, arn, before, time.monotonic() - started)


def format_summary(summary: dict[str, Any]) -> str:
    lines = [f"run {summary.get('run_id') or summary.get('execution')}: {summary['status']}"]
    if summary["status"] == "FAILED":
        lines.append(f"  error: {summary.get('error')}: {summary.get('cause')}")
    if "rows_in" in summary:
        lines.append(
            "  rows in {rows_in} = sent {sent} + unchanged {unchanged} + rejected {rejected}".format(
                **summary
            )
        )
        lines.append("  sent {sent} = succeeded {succeeded} + failed {failed}".format(**summary))
        if summary.get("reject_reasons"):
            lines.append(f"  reject reasons: {summary['reject_reasons']}")
        if summary.get("failure_codes"):
            lines.append(f"  failure codes: {summary['failure_codes']}")
        for payer in summary.get("unmapped_payers", [])[:10]:
            lines.append(
                f"  unmapped payer {payer['payer_id']} {payer['payer_name']!r}: {payer['claims']} claims"
            )
        for name, uri in summary.get("reports", {}).items():
            lines.append(f"  {name}: {uri}")
    lines.append(
        f"  Salesforce API calls {summary['salesforce_api_calls']}, state transitions "
        f"{summary['state_transitions']}, {summary['duration_s']} s"
    )
    return "\n".join(lines)
