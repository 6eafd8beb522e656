"""The credentials of the two external systems, in Secrets Manager, encrypted with the project key.

Created with generated placeholder values (a JSON template plus a random field): the stack never
holds a real credential. Operators put the real values in after the first deploy (docs/runbook.md,
"Secrets"); rotation is a documented manual procedure because both are third-party credentials.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks import nag

# The keys the Lambda code reads (claimsync.salesforce.auth.SalesforceCredentials / collaboratemd.CmdSettings).
SALESFORCE_TEMPLATE = {
    "grant": "password",
    "token_url": "https://login.salesforce.com/services/oauth2/token",
    "client_id": "REPLACE_ME",
    "username": "REPLACE_ME",
    "password": "REPLACE_ME",
}
COLLABORATEMD_TEMPLATE = {
    "base_url": "https://webapi.collaboratemd.com",
    "username": "REPLACE_ME",
    "customer": "REPLACE_ME",
    "report_id": "REPLACE_ME",
    "filter_id": "REPLACE_ME",
}
ROTATION_REASON = (
    "Third-party credentials (Salesforce connected app, CollaborateMD API user) cannot be rotated by an AWS "
    "rotation Lambda without the vendor's admin UI; the manual rotation is in docs/runbook.md."
)

JWT_KEY_ROTATION_REASON = (
    "Asymmetric KMS keys cannot rotate automatically. Rotation is a new key plus a new connected-app "
    "certificate (claimsync salesforce-certificate), done by the operator as described in docs/runbook.md."
)


class IntegrationSecrets(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, prefix: str) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.salesforce = self._secret(
            "Salesforce",
            name=f"{prefix.lower()}/salesforce",
            description="claimsync: Salesforce OAuth credentials (JSON; see docs/runbook.md)",
            template=SALESFORCE_TEMPLATE,
            generated_key="client_secret",
            key=key,
        )
        # The JWT bearer grant signs with this key (claimsync.jwt_bearer); its private half never leaves KMS.
        self.salesforce_jwt_key = kms.Key(
            self,
            "SalesforceJwtKey",
            alias=f"alias/{prefix.lower()}-salesforce-jwt",
            description="claimsync: signs the Salesforce JWT-bearer assertions (RS256); see docs/runbook.md",
            key_spec=kms.KeySpec.RSA_2048,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        for finding in ("AwsSolutions-KMS5", "HIPAA.Security-KMSBackingKeyRotationEnabled"):
            nag.acknowledge(self.salesforce_jwt_key, finding, JWT_KEY_ROTATION_REASON)
        self.collaboratemd = self._secret(
            "CollaborateMD",
            name=f"{prefix.lower()}/collaboratemd",
            description="claimsync: CollaborateMD API user and report ids (JSON; see docs/runbook.md)",
            template=COLLABORATEMD_TEMPLATE,
            generated_key="password",
            key=key,
        )

    def grant_read(self, secret: secretsmanager.ISecret, grantee: iam.IGrantable) -> None:
        """Read one secret: its value, and decryption by the project key only through Secrets Manager.
        Reading the Salesforce secret includes signing with the JWT key (``kms:Sign``, that key only).

        Written on the grantee's own policy (``Secret.grant_read`` would edit the key policy in the
        shared stack with the grantee's ARN: a cross-stack cycle).
        """
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            resource_arns=[secret.secret_arn],
        )
        region = cdk.Stack.of(grantee.grant_principal).region  # type: ignore[arg-type]
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
            )
        )
        if secret is self.salesforce:
            grantee.grant_principal.add_to_principal_policy(
                iam.PolicyStatement(actions=["kms:Sign"], resources=[self.salesforce_jwt_key.key_arn])
            )

    def _secret(
        self,
        construct_id: str,
        *,
        name: str,
        description: str,
        template: dict[str, str],
        generated_key: str,
        key: kms.IKey,
    ) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            construct_id,
            secret_name=name,
            description=description,
            encryption_key=key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(template),
                generate_string_key=generated_key,
                exclude_punctuation=True,
                password_length=32,
            ),
        )
        nag.acknowledge(secret, "AwsSolutions-SMG4", ROTATION_REASON)
        nag.acknowledge(secret, "HIPAA.Security-SecretsManagerRotationEnabled", ROTATION_REASON)
        return secret
