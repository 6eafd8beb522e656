"""Alarms of the claim sync (each notifying the alarm topic) and its CloudWatch dashboard."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import metrics
from stacks.alerting import Alarms
from stacks.config import InfraConfig

FIVE_MINUTES = cdk.Duration.minutes(5)
ONE_HOUR = cdk.Duration.hours(1)
ONE_DAY = cdk.Duration.days(1)


def function_alarms(alarms: Alarms, name: str, function: lambda_.IFunction) -> None:
    """Errors and throttles of one function (a throttled task is retried, then fails the run)."""
    alarms.add(
        f"{name}Errors",
        function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
        description=f"The {name} Lambda function raised errors.",
    )
    alarms.add(
        f"{name}Throttles",
        function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
        description=f"The {name} Lambda function was throttled (reserved concurrency reached).",
    )


class SyncMonitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        functions: Mapping[str, lambda_.IFunction],
        topic: sns.ITopic,
        config: InfraConfig,
        dashboard_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms = Alarms(self, topic)
        sm = state_machine
        self.alarms.add(
            "ExecutionsFailed",
            sm.metric_failed(period=FIVE_MINUTES, statistic="Sum"),
            description="A claim-sync run failed (its run record in DynamoDB names the failed state).",
        )
        self.alarms.add(
            "ExecutionsTimedOut",
            sm.metric_timed_out(period=FIVE_MINUTES, statistic="Sum"),
            description="A claim-sync run exceeded the state machine's overall timeout.",
        )
        self.alarms.add(
            "ExecutionsAborted",
            sm.metric_aborted(period=FIVE_MINUTES, statistic="Sum"),
            description=(
                "A claim-sync run was stopped (aborted) before it finished; AbnormalEnd aborts its Bulk jobs, "
                "records it and releases its lock."
            ),
        )
        self.alarms.add(
            "PartialRuns",
            metrics.metric(metrics.PARTIAL_RUNS, period=ONE_HOUR),
            description="A claim-sync run finished PARTIAL: some claims were rejected or failed in Salesforce.",
        )
        self.alarms.add(
            "SalesforceApiUsage",
            metrics.metric(metrics.SALESFORCE_API_USAGE_PERCENT, statistic="Maximum", period=ONE_HOUR),
            threshold=config.salesforce_api_usage_alarm_percent,
            description=(
                f"Salesforce API usage reached {config.salesforce_api_usage_alarm_percent}% of the org's "
                "daily allocation (Sforce-Limit-Info)."
            ),
        )
        self.alarms.add(
            "ScheduleDropped",
            cloudwatch.Metric(
                namespace="AWS/Scheduler",
                metric_name="InvocationDroppedCount",
                dimensions_map={"ScheduleGroup": "default"},
                statistic="Sum",
                period=FIVE_MINUTES,
            ),
            description="EventBridge Scheduler gave up starting a scheduled run (retries exhausted).",
        )
        for name, function in functions.items():
            function_alarms(self.alarms, name, function)

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=dashboard_name, default_interval=cdk.Duration.days(14)
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Runs (per day)",
                left=[
                    sm.metric_started(period=ONE_DAY, label="started"),
                    sm.metric_succeeded(period=ONE_DAY, label="succeeded"),
                    metrics.metric(metrics.PARTIAL_RUNS, period=ONE_DAY, label="partial"),
                    sm.metric_failed(period=ONE_DAY, label="failed"),
                    sm.metric_timed_out(period=ONE_DAY, label="timed out"),
                    sm.metric_aborted(period=ONE_DAY, label="aborted"),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Claims (per day)",
                left=[
                    metrics.metric(metrics.CLAIMS_SENT, period=ONE_DAY, label="sent"),
                    metrics.metric(metrics.CLAIMS_REJECTED, period=ONE_DAY, label="rejected"),
                    metrics.metric(metrics.CLAIMS_FAILED, period=ONE_DAY, label="failed"),
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Salesforce API usage (% of daily allocation, max per hour)",
                left=[
                    metrics.metric(metrics.SALESFORCE_API_USAGE_PERCENT, statistic="Maximum", label="used %")
                ],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(
                        value=config.salesforce_api_usage_alarm_percent, label="alarm"
                    )
                ],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Run duration (ms)",
                left=[sm.metric_time(period=ONE_DAY, statistic="Maximum", label="longest run")],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms.alarms, width=24),
        )
