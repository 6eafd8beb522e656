"""FinishRun: accounting check, new snapshot, the run's reports in S3, the summary (claimsync.steps.finish);
and the run's counts as CloudWatch metrics for the dashboard and the alarms."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from claimsync import layout
from handlers._edge import step_handler

metrics = Metrics(namespace=layout.METRIC_NAMESPACE, service=layout.METRIC_SERVICE)
_finish = step_handler("FinishRun")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    summary = _finish(event, context)
    emit_metrics(summary)
    return summary


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
