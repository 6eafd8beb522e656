"""Lambda defaults, set once: runtime, architecture, tracing, encrypted log group, own least-privilege role."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from claimsync.layout import FunctionSpec
from stacks import checkov, nag
from stacks.bundling import BundleTarget, lambda_code
from stacks.config import InfraConfig

RUNTIMES = {"3.12": lambda_.Runtime.PYTHON_3_12, "3.13": lambda_.Runtime.PYTHON_3_13}
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


@dataclass(frozen=True)
class LambdaDefaults:
    """What every function of the project shares. Built once per stack from the config."""

    runtime: lambda_.Runtime
    architecture: lambda_.Architecture
    code: lambda_.Code
    key: kms.IKey
    log_retention: logs.RetentionDays
    reserved_concurrency: bool

    @classmethod
    def from_config(cls, config: InfraConfig, key: kms.IKey) -> LambdaDefaults:
        architecture = ARCHITECTURES[config.lambda_architecture]
        target = BundleTarget.for_lambda(config.lambda_python_version, architecture)
        return cls(
            runtime=RUNTIMES[config.lambda_python_version],
            architecture=architecture,
            code=lambda_code(target),
            key=key,
            log_retention=retention(config.log_retention_days),
            reserved_concurrency=config.reserved_concurrency,
        )


_RETENTION = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS",
}  # fmt: skip


def retention(days: int) -> logs.RetentionDays:
    """The CloudWatch Logs retention enum member for ``days`` (validated by the config)."""
    return logs.RetentionDays[_RETENTION[days]]


DLQ_REASON = (
    "Invoked synchronously only (Step Functions task / API Gateway proxy): a DLQ applies to asynchronous "
    "invocations; failures surface to the caller, which retries, records the failure and alarms."
)
VPC_REASON = (
    "Calls only public SaaS endpoints (Salesforce, CollaborateMD) over TLS and AWS APIs; it reaches no VPC "
    "resource. A VPC would add NAT gateways without narrowing any data path."
)


class ProjectFunction(Construct):
    """A Lambda function with the project's defaults, its own role and its own encrypted log group.

    The role starts empty except for writing to its log group and X-Ray; everything else is added
    by the caller with ``grant_*`` on the resources the function really uses.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: LambdaDefaults,
        handler: str,
        description: str,
        memory_mb: int,
        timeout: cdk.Duration,
        environment: Mapping[str, str],
        reserved_concurrency: int,
        ephemeral_mb: int = 512,
        dead_letter_queue: sqs.IQueue | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=defaults.log_retention,
            encryption_key=defaults.key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"claimsync {construct_id}: least privilege, grants added per resource",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=defaults.runtime,
            architecture=defaults.architecture,
            code=defaults.code,
            handler=handler,
            memory_size=memory_mb,
            ephemeral_storage_size=cdk.Size.mebibytes(ephemeral_mb),
            timeout=timeout,
            environment=dict(environment),
            environment_encryption=defaults.key,  # checkov CKV_AWS_173: the project key, not AWS's
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            role=self.role,
            reserved_concurrent_executions=reserved_concurrency if defaults.reserved_concurrency else None,
            dead_letter_queue=dead_letter_queue,  # asynchronously invoked functions only
        )
        nag.acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.",
        )
        nag.acknowledge_inline_policy(self.role)
        nag.acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"Runtime pinned by cdk.json (lambda_python_version={defaults.runtime.name}): the dependency bundle is "
            "built and tested for that CPython ABI; upgrading is a deliberate change of the pin, not a drift.",
        )
        if dead_letter_queue is None:
            nag.acknowledge(self.function, "HIPAA.Security-LambdaDLQ", DLQ_REASON)
            checkov.skip(self.function, "CKV_AWS_116", DLQ_REASON)
        nag.acknowledge(self.function, "HIPAA.Security-LambdaInsideVPC", VPC_REASON)
        checkov.skip(self.function, "CKV_AWS_117", VPC_REASON)
        if not defaults.reserved_concurrency:
            nag.acknowledge(
                self.function,
                "HIPAA.Security-LambdaConcurrency",
                "reserved_concurrency is off in cdk.json for this account (its concurrency quota is too small to "
                "reserve); concurrency is bounded by the state machine's Map and the API stage throttling.",
            )


def function_from_spec(
    scope: Construct,
    spec: FunctionSpec,
    *,
    defaults: LambdaDefaults,
    environment: Mapping[str, str],
    description: str,
    dead_letter_queue: sqs.IQueue | None = None,
) -> ProjectFunction:
    """The function ``layout`` declares, with the facts of its declaration (one place for both stacks)."""
    return ProjectFunction(
        scope,
        spec.name,
        defaults=defaults,
        handler=spec.handler,
        description=f"{description} ({spec.handler})",
        memory_mb=spec.memory_mb,
        timeout=cdk.Duration.seconds(spec.timeout_s),
        environment=environment,
        reserved_concurrency=spec.reserved_concurrency,
        ephemeral_mb=spec.ephemeral_mb,
        dead_letter_queue=dead_letter_queue,
    )
