"""Shared stack: what both the claim sync and the CRM API use (key, secrets, alarm topic)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from stacks.alerting import AlarmTopic
from stacks.config import InfraConfig
from stacks.encryption import ProjectKey
from stacks.secrets import IntegrationSecrets


class SharedStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: InfraConfig, **kwargs: Any) -> None:
        super().__init__(
            scope, construct_id, description="claimsync shared: KMS key, secrets, alarm topic", **kwargs
        )
        self.key = ProjectKey(self, "Encryption", alias=f"alias/{config.stack_prefix.lower()}").key
        self.secrets = IntegrationSecrets(self, "Secrets", key=self.key, prefix=config.stack_prefix)
        self.alarm_topic = AlarmTopic(self, "Alarms", key=self.key, email=config.alarm_email).topic
        cdk.CfnOutput(
            self,
            "SalesforceJwtKeyArn",
            value=self.secrets.salesforce_jwt_key.key_arn,
            description="kms_key_id for the Salesforce secret's jwt grant (claimsync salesforce-certificate)",
        )
