"""Claim-sync stack: staging bucket and sync table -> Lambda steps -> state machine <- schedule; alarms.

Reads like the diagram in docs/architecture: storage first, then the functions that use it, the
state machine that runs them, the schedule that starts it, and what watches it.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from claimsync import layout
from claimsync.config import settings_to_env
from claimsync.operator.deployment import (  # what the operator CLI reads
    OUTPUT_BUCKET,
    OUTPUT_SALESFORCE_SECRET,
    OUTPUT_STATE_MACHINE,
    OUTPUT_TABLE,
)
from stacks import metrics
from stacks.abnormal_end import AbnormalEndHandling
from stacks.config import InfraConfig
from stacks.functions import LambdaDefaults, ProjectFunction, function_from_spec
from stacks.monitoring import SyncMonitoring
from stacks.schedule import SyncSchedule
from stacks.shared_stack import SharedStack
from stacks.staging_bucket import StagingBucket
from stacks.state_machine import ClaimSyncStateMachine
from stacks.sync_table import SyncTable


def powertools_environment() -> dict[str, str]:
    return {
        "POWERTOOLS_SERVICE_NAME": metrics.SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": metrics.NAMESPACE,
    }


class ClaimSyncStack(cdk.Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: InfraConfig, shared: SharedStack, **kwargs: Any
    ) -> None:
        super().__init__(
            scope, construct_id, description="claimsync: CollaborateMD claims -> Salesforce", **kwargs
        )
        key = shared.key
        staging = StagingBucket(self, "Staging", key=key, config=config)
        state = SyncTable(self, "SyncState", key=key)

        settings = config.sync_settings(
            bucket=staging.bucket.bucket_name,
            table=state.table.table_name,
            salesforce_secret_id=shared.secrets.salesforce.secret_arn,
            collaboratemd_secret_id=shared.secrets.collaboratemd.secret_arn,
        )
        environment = {**settings_to_env(settings), **powertools_environment()}
        defaults = LambdaDefaults.from_config(config, key)
        self.functions: dict[str, ProjectFunction] = {}
        for spec in layout.SYNC_FUNCTIONS:
            fn = function_from_spec(
                self,
                spec,
                defaults=defaults,
                environment=environment,
                description=f"claimsync {spec.name} step",
            )
            if spec.staging:
                staging.grant_staging(fn.function)
            if spec.salesforce:
                shared.secrets.grant_read(shared.secrets.salesforce, fn.function)
            if spec.collaboratemd:
                shared.secrets.grant_read(shared.secrets.collaboratemd, fn.function)
            if spec.sync_table:
                state.table.grant(fn.function, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem")
                key.grant(fn.function, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")
            self.functions[spec.name] = fn

        lambdas = {name: fn.function for name, fn in self.functions.items()}
        machine_name = f"{config.stack_prefix}-claim-sync"
        self.machine = ClaimSyncStateMachine(
            self,
            "ClaimSync",
            name=machine_name,
            functions=lambdas,
            table=state.table,
            key=key,
            log_retention=defaults.log_retention,
        )
        self.schedule = SyncSchedule(
            self, "Schedule", state_machine=self.machine.state_machine, config=config
        )
        self.monitoring = SyncMonitoring(
            self,
            "Monitoring",
            state_machine=self.machine.state_machine,
            functions=lambdas,
            topic=shared.alarm_topic,
            config=config,
            dashboard_name=f"{config.stack_prefix}-claim-sync",
        )
        # Stopped, timed-out and uncaught-failed runs: jobs aborted, end recorded, lock released.
        self.abnormal_end = AbnormalEndHandling(
            self,
            "AbnormalEnd",
            state_machine=self.machine.state_machine,
            state_machine_name=machine_name,
            defaults=defaults,
            environment=environment,
            bucket=staging.bucket,
            table=state.table,
            key=key,
            topic=shared.alarm_topic,
        )
        shared.secrets.grant_read(shared.secrets.salesforce, self.abnormal_end.function)
        self.staging = staging
        self.state = state

        cdk.CfnOutput(self, OUTPUT_STATE_MACHINE, value=self.machine.state_machine.state_machine_arn)
        cdk.CfnOutput(self, OUTPUT_BUCKET, value=staging.bucket.bucket_name)
        cdk.CfnOutput(self, OUTPUT_TABLE, value=state.table.table_name)
        # `claimsync claim` reads the claim's record with the same credentials (the ARN, not the value).
        cdk.CfnOutput(self, OUTPUT_SALESFORCE_SECRET, value=shared.secrets.salesforce.secret_arn)
