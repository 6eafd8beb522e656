"""The EventBridge Scheduler schedule that starts the claim sync (time-zone aware cron, input {})."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import nag
from stacks.config import InfraConfig

SCHEDULED_INPUT = "{}"  # an incremental run; operators start {"full_sync": true} by hand


class SyncSchedule(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, state_machine: sfn.IStateMachine, config: InfraConfig
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": cdk.Stack.of(self).account}},
            ),
            description="claimsync schedule: may start the claim-sync state machine, nothing else",
        )
        state_machine.grant_start_execution(self.role)
        nag.acknowledge_inline_policy(self.role)
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            description="claimsync: incremental claim sync",
            schedule_expression=config.schedule_expression,
            schedule_expression_timezone=config.schedule_timezone,
            state="ENABLED" if config.schedule_enabled else "DISABLED",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=state_machine.state_machine_arn,
                role_arn=self.role.role_arn,
                input=SCHEDULED_INPUT,
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=config.schedule_retry_attempts,
                    maximum_event_age_in_seconds=config.schedule_max_event_age_seconds,
                ),
            ),
        )
