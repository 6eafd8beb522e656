"""The DynamoDB sync-state table: the lock, the checkpoint and the run history (pk/sk strings)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from claimsync import layout
from stacks import nag


class SyncTable(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(
                name=layout.TABLE_PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name=layout.TABLE_SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=layout.TABLE_TTL_ATTRIBUTE,
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        nag.acknowledge(
            self.table,
            "HIPAA.Security-DynamoDBInBackupPlan",
            "Point-in-time recovery (35 days) covers this table of locks, checkpoints and run records; it holds "
            "no claim data, and an AWS Backup plan would duplicate PITR.",
        )
