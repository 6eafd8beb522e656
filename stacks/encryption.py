"""The project's one customer-managed KMS key: S3, DynamoDB, logs, secrets, SNS and the state machine."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class ProjectKey(Construct):
    """A rotating symmetric key whose policy lets the services that write for us use it.

    Principals in the account get access through IAM (``grant_*`` on their roles; the key policy
    trusts the account). AWS services that encrypt on their own behalf need key-policy statements,
    each bounded to this account and region: CloudWatch Logs (every encrypted log group of the
    project), CloudWatch alarms publishing to the encrypted SNS topic, and EventBridge sending an
    undeliverable abnormal-end event to its encrypted dead-letter queue (stacks/abnormal_end.py).
    The state machine adds its own statements (log delivery) when it binds the key.
    """

    def __init__(self, scope: Construct, construct_id: str, *, alias: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            alias=alias,
            description="claimsync: PHI at rest (staging bucket, sync table, logs, secrets, alarms, state machine)",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsToEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeToEncryptedDeadLetterQueue",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
