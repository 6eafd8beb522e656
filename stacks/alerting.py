"""Where alarms go: one KMS-encrypted SNS topic, and a small factory for alarms that notify it."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class AlarmTopic(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, email: str = "") -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="claimsync alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))


class Alarms:
    """Declares alarms that notify ``topic``; missing data (no runs, no traffic) is not an alarm."""

    def __init__(self, scope: Construct, topic: sns.ITopic) -> None:
        self._scope = scope
        self._action = cw_actions.SnsAction(topic)
        self.alarms: list[cloudwatch.Alarm] = []

    def add(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        description: str,
        threshold: float = 1,
        evaluation_periods: int = 1,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self._scope,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{description} See docs/runbook.md, 'Alarms'.",
        )
        alarm.add_alarm_action(self._action)
        self.alarms.append(alarm)
        return alarm
