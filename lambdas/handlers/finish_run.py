"""FinishRun: accounting check, new snapshot, the run's reports in S3, and the summary."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from claimsync import layout, sync
from handlers._edge import lambda_handler, logger, staging

metrics = Metrics(namespace=layout.METRIC_NAMESPACE, service=layout.METRIC_SERVICE)

LOGGED = ("status", "rows_in", "sent", "unchanged", "rejected", "succeeded", "failed")


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    summary = sync.finish_run(
        staging(), sync.Run.from_payload(event["run"]), int(event["page_count"]), int(event["rows_in"])
    )
    logger.info("run finished", extra={k: summary[k] for k in LOGGED})
    emit_metrics(summary)
    # The payload keeps counts; the unmapped payers list (possibly long) stays in the S3 summary.
    payload = {k: v for k, v in summary.items() if k != "unmapped_payers"}
    payload["unmapped_payer_count"] = len(summary["unmapped_payers"])
    return payload


def emit_metrics(summary: dict[str, Any]) -> None:
    """Counts for the dashboard and the partial-run / API-usage alarms (never values)."""
    if summary["dry_run"]:
        return
    metrics.add_metric(layout.METRIC_CLAIMS_SENT, MetricUnit.Count, summary["sent"])
    metrics.add_metric(layout.METRIC_CLAIMS_REJECTED, MetricUnit.Count, summary["rejected"])
    metrics.add_metric(layout.METRIC_CLAIMS_FAILED, MetricUnit.Count, summary["failed"])
    metrics.add_metric(
        layout.METRIC_PARTIAL_RUNS, MetricUnit.Count, 1 if summary["status"] == "PARTIAL" else 0
    )
    usage = summary.get("salesforce_api_usage") or {}
    if usage.get("used") is not None and usage.get("max"):
        percent = 100.0 * usage["used"] / usage["max"]
        metrics.add_metric(layout.METRIC_SALESFORCE_API_USAGE_PERCENT, MetricUnit.Percent, round(percent, 2))
    metrics.flush_metrics()
