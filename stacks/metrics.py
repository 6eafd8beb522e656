"""The custom CloudWatch metrics the Lambda code emits and the alarms/dashboard read.

The code emits them with Powertools Metrics; the stack sets ``POWERTOOLS_METRICS_NAMESPACE`` and
``POWERTOOLS_SERVICE_NAME`` on every function, so ``Metrics()`` with no arguments lands here.
Powertools adds the ``service`` dimension itself: alarms match it exactly, so the emitting code must
not add other dimensions to these metrics (a metric with extra dimensions is a different metric).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

from claimsync import layout

# One definition, shared with the Lambda code that emits them (claimsync.layout).
NAMESPACE = layout.METRIC_NAMESPACE
SERVICE = layout.METRIC_SERVICE
DIMENSIONS = {"service": SERVICE}

PARTIAL_RUNS = layout.METRIC_PARTIAL_RUNS
CLAIMS_SENT = layout.METRIC_CLAIMS_SENT
CLAIMS_REJECTED = layout.METRIC_CLAIMS_REJECTED
CLAIMS_FAILED = layout.METRIC_CLAIMS_FAILED
SALESFORCE_API_USAGE_PERCENT = layout.METRIC_SALESFORCE_API_USAGE_PERCENT


def metric(
    name: str, *, statistic: str = "Sum", period: Duration | None = None, label: str = ""
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map=DIMENSIONS,
        statistic=statistic,
        period=period or Duration.hours(1),
        label=label or None,  # a label makes an alarm render as metric math: alarms pass none
    )
