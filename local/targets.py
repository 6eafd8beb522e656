"""Where an operator verb runs: a deployed stack in AWS, or the local world.

Both are a :class:`~claimsync.operator.deployment.Deployment` (state machine, bucket, table) plus
boto3 clients: the AWS ones from the operator's session, the local ones pointed at the local world's
moto endpoint. Everything after this choice is the same code (``claimsync.operator``).
``salesforce()`` builds a Salesforce gateway: on AWS from the stack's Salesforce secret, as the
Lambda handlers do; on the local world for its Salesforce emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimsync.operator.deployment import DEFAULT_STACK_NAME, Deployment, OperatorError, find_deployment
from local.exits import CliError, ExitCode

AWS_FOLLOW_TIMEOUT_S = 4 * 3600 + 300  # the state machine's own timeout, and a margin
LOCAL_FOLLOW_TIMEOUT_S = 600.0
AWS_POLL_S = 2.0
LOCAL_POLL_S = 0.2


@dataclass
class Target:
    deployment: Deployment
    client: Callable[[str], Any]
    where: str  # "the local world (D)" / "stack S in R"
    local: bool
    follow_flags: str  # what `claimsync sync --follow RUN_ID` needs to find the same world again
    poll_s: float
    default_timeout_s: float
    endpoints: dict[str, Any] = field(default_factory=dict)
    salesforce: Callable[[], Any] = field(default=lambda: None)
    """A ``SalesforceGateway`` on the world's org (built on call: it reads a secret)."""

    def follow_command(self, run_id: str) -> str:
        return f"claimsync sync {self.follow_flags}--follow {run_id}"


def local_target(state_dir: Path) -> Target:
    from local.statedir import read_endpoints, state_dir_from
    from local.syncrun import aws_client, local_deployment

    endpoints = read_endpoints(state_dir)
    if "aws" not in endpoints:
        raise CliError(ExitCode.NOT_FOUND, f"the local world on {state_dir} was started without local AWS")
    flags = "--local " + ("" if state_dir == state_dir_from(None) else f"--state-dir {state_dir} ")
    return Target(
        deployment=local_deployment(endpoints),
        client=lambda service: aws_client(endpoints, service),
        where=f"the local world ({state_dir})",
        local=True,
        follow_flags=flags,
        poll_s=LOCAL_POLL_S,
        default_timeout_s=LOCAL_FOLLOW_TIMEOUT_S,
        endpoints=endpoints,
        salesforce=lambda: _local_salesforce(endpoints),
    )


def _local_salesforce(endpoints: dict[str, Any]) -> Any:
    from local.world import salesforce_gateway

    return salesforce_gateway(endpoints)


def aws_salesforce(session: Any, deployment: Deployment) -> Any:
    """A gateway from the stack's Salesforce secret (its ARN is a stack output), as the handlers build it."""
    import json

    from claimsync.salesforce.auth import SalesforceCredentials
    from claimsync.salesforce.gateway import SalesforceGateway

    if not deployment.salesforce_secret:
        raise OperatorError(
            f"stack {deployment.stack_name!r} has no output SalesforceSecretArn (deployed before"
            " `claimsync claim`): deploy it again"
        )
    value = session.client("secretsmanager").get_secret_value(SecretId=deployment.salesforce_secret)
    try:
        secret = json.loads(value.get("SecretString") or "")
    except ValueError:
        raise OperatorError("the Salesforce secret does not hold JSON (docs/runbook.md, 1.4)") from None
    if not isinstance(secret, dict):
        raise OperatorError("the Salesforce secret must hold a JSON object (docs/runbook.md, 1.4)")
    try:
        credentials = SalesforceCredentials.from_secret(secret)
    except ValueError as exc:  # names missing keys, never values
        raise OperatorError(str(exc)) from None
    return SalesforceGateway(credentials)  # the gateway's API version: a one-record query reads the same


def aws_target(stack: str, region: str | None, env: Mapping[str, str]) -> Target:
    """The deployed stack, with the operator's AWS session; missing region or credentials are
    reported before any call is made. ``AWS_REGION`` (what other AWS SDKs read) counts as well as
    boto3's ``AWS_DEFAULT_REGION``."""
    import boto3
    from botocore.exceptions import BotoCoreError

    region = region or env.get("AWS_REGION") or None
    try:
        session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
        if not session.region_name:
            raise CliError(
                ExitCode.AWS,
                "no AWS region: pass --region, or set AWS_REGION, or set a region in the AWS CLI profile",
            )
        if session.get_credentials() is None:
            raise CliError(
                ExitCode.AWS,
                "no AWS credentials: log in (aws sso login / aws configure) or set AWS_PROFILE",
            )
    except BotoCoreError as exc:
        raise CliError(ExitCode.AWS, f"AWS configuration: {exc}") from None
    deployment = find_deployment(session.client("cloudformation"), stack)
    flags = "" if stack == DEFAULT_STACK_NAME else f"--stack {stack} "
    flags += f"--region {region} " if region else ""
    return Target(
        deployment=deployment,
        client=session.client,
        where=f"stack {stack} ({session.region_name})",
        local=False,
        follow_flags=flags,
        poll_s=AWS_POLL_S,
        default_timeout_s=AWS_FOLLOW_TIMEOUT_S,
        salesforce=lambda: aws_salesforce(session, deployment),
    )
