"""The S3 staging bucket: staged PHI under runs/ (short expiry), snapshots/, reports/."""

from __future__ import annotations

from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from claimsync import layout
from stacks import checkov, nag
from stacks.config import InfraConfig

LOG_BUCKET_REASON = (
    "This is the server-access-log bucket of the staging bucket; logging it into itself would loop."
)


class StagingBucket(Construct):
    """Private, TLS-only, SSE-KMS with the project key; every prefix expires; access logged."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, config: InfraConfig) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access log delivery writes only to SSE-S3 buckets (SSE-KMS targets are unsupported).
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=cdk.Duration.days(365),
                    noncurrent_version_expiration=cdk.Duration.days(config.noncurrent_expiry_days),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        expire = cdk.Duration.days
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Versioning guards against a buggy overwrite; old versions of staged PHI go quickly.
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="staging/",
            lifecycle_rules=[
                _expiry("expire-staged-runs", layout.RUNS_PREFIX, expire(config.runs_expiry_days), config),
                _expiry("expire-reports", layout.REPORTS_PREFIX, expire(config.reports_expiry_days), config),
                _expiry(
                    "expire-snapshots", layout.SNAPSHOTS_PREFIX, expire(config.snapshots_expiry_days), config
                ),
                s3.LifecycleRule(
                    id="clean-up",
                    abort_incomplete_multipart_upload_after=expire(1),
                    expired_object_delete_marker=True,
                    noncurrent_version_expiration=expire(config.noncurrent_expiry_days),
                ),
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        replication = (
            "Staged copies are reproducible from CollaborateMD and Salesforce and expire within days; a second "
            "region would only double the places PHI lives. Loss is recovered by the next full sync."
        )
        nag.acknowledge(self.bucket, "HIPAA.Security-S3BucketReplicationEnabled", replication)
        nag.acknowledge(self.access_logs, "HIPAA.Security-S3BucketReplicationEnabled", replication)
        nag.acknowledge(self.access_logs, "AwsSolutions-S1", LOG_BUCKET_REASON)
        nag.acknowledge(self.access_logs, "HIPAA.Security-S3BucketLoggingEnabled", LOG_BUCKET_REASON)
        checkov.skip(self.access_logs, "CKV_AWS_18", LOG_BUCKET_REASON)
        nag.acknowledge(
            self.access_logs,
            "HIPAA.Security-S3DefaultEncryptionKMS",
            "S3 server access log delivery supports only SSE-S3 on the target bucket; the logs hold request "
            "metadata (keys are run ids and page numbers), never object contents.",
        )

    def grant_staging(self, grantee: iam.IGrantable) -> None:
        """Exactly what ``claimsync.staging.Staging`` calls: get/put objects, list (so a missing key is
        ``NoSuchKey``, not ``AccessDenied``), and the key operations SSE-KMS needs for those."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:GetObject", "s3:PutObject"],
            resource_arns=[self.bucket.arn_for_objects("*")],
        )
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["s3:ListBucket"], resource_arns=[self.bucket.bucket_arn]
        )
        self.key.grant(grantee, "kms:Decrypt", "kms:GenerateDataKey")
        nag.acknowledge(
            # Every grantee here is a Role, which is a construct; IPrincipal does not say so.
            cast(IConstruct, grantee.grant_principal),
            f"AwsSolutions-IAM5[Resource::<{_logical_id(self.bucket)}.Arn>/*]",
            "Object-level access to the staging bucket: run ids (keys) are created at run time; the bucket holds "
            "only this project's staged pages, snapshots and reports.",
        )


def _logical_id(construct: Construct) -> str:
    child = construct.node.default_child
    assert isinstance(child, cdk.CfnElement)
    return cdk.Stack.of(construct).get_logical_id(child)


def _expiry(rule_id: str, prefix: str, after: cdk.Duration, config: InfraConfig) -> s3.LifecycleRule:
    return s3.LifecycleRule(
        id=rule_id,
        prefix=prefix,
        expiration=after,
        noncurrent_version_expiration=cdk.Duration.days(config.noncurrent_expiry_days),
    )
