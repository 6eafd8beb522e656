"""Optional: run the claim-sync state machine on Step Functions Local (Docker) instead of moto's
interpreter.

Everything else stays on the local world: moto keeps serving S3, DynamoDB, Secrets Manager and
Lambda (whose invocations run the real handlers in its worker processes), and the emulators
keep serving Salesforce and CollaborateMD. Step Functions Local only runs the ASL. It reaches moto
through its own settings, fixed when its container starts::

    LAMBDA_ENDPOINT=http://127.0.0.1:<moto port>    (the plain function-ARN Task states)
    DYNAMODB_ENDPOINT=http://127.0.0.1:<moto port>  (arn:aws:states:::dynamodb:* integrations)

so moto must listen on a fixed port (``CLAIMSYNC_MOTO_PORT`` -> ``WorldOptions.moto_port``).

Settings (environment):

- ``CLAIMSYNC_SFN_LOCAL_ENDPOINT``: e.g. ``http://localhost:8083``. Unset: Step Functions Local is
  not used and its tests are skipped (the moto path is complete on its own).
- ``CLAIMSYNC_MOTO_PORT``: the port moto listens on, the one in the container's endpoints.

See docs/local-world.md, "Step Functions Local (optional)", for the ``docker run`` command.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from local.private import write_private

ENV_ENDPOINT = "CLAIMSYNC_SFN_LOCAL_ENDPOINT"
ENV_MOTO_PORT = "CLAIMSYNC_MOTO_PORT"
DOCKER_IMAGE = "amazon/aws-stepfunctions-local"
SKIP_REASON = (
    "Step Functions Local not configured: set CLAIMSYNC_SFN_LOCAL_ENDPOINT "
    "(needs Docker, see docs/local-world.md)"
)
# Step Functions Local sleeps Wait states and Retry intervals for real (moto's are scaled down):
# poll CollaborateMD and Salesforce every second or two instead of every 5-120 s.
SFN_LOCAL_SYNC_OVERRIDES: dict[str, Any] = {
    "report_poll_seconds": 1,
    "report_poll_max_seconds": 2,
    "upload_poll_seconds": 1,
    "upload_poll_max_seconds": 2,
}
_ROLE_NAME = "claimsync-local-states"  # Step Functions Local does not check roles


class SfnLocalError(Exception):
    """Step Functions Local is configured but cannot be used as configured."""


@dataclass(frozen=True)
class SfnLocalConfig:
    endpoint_url: str  # where this process reaches Step Functions Local
    moto_port: int  # where Step Functions Local reaches moto (LAMBDA_ENDPOINT / DYNAMODB_ENDPOINT)
    region: str = "us-east-1"

    @property
    def moto_endpoint(self) -> str:
        """The LAMBDA_ENDPOINT / DYNAMODB_ENDPOINT value for a container on the host network."""
        return f"http://127.0.0.1:{self.moto_port}"

    def docker_command(self) -> str:
        port = urlsplit(self.endpoint_url).port or 8083
        lines = [
            "docker run --rm --name claimsync-sfn-local --network host",
            f"  -e AWS_DEFAULT_REGION={self.region}",
            "  -e AWS_ACCESS_KEY_ID=testing -e AWS_SECRET_ACCESS_KEY=testing",
            f"  -e LAMBDA_ENDPOINT={self.moto_endpoint}",
            f"  -e DYNAMODB_ENDPOINT={self.moto_endpoint}",
            f"  {DOCKER_IMAGE}",
        ]
        command = " \\\n".join(lines)
        if port != 8083:
            command += f"\n(the image listens on 8083; {ENV_ENDPOINT} names port {port})"
        return command


def config_from_env(env: Mapping[str, str] | None = None) -> SfnLocalConfig | None:
    """The Step Functions Local settings, or None when ``CLAIMSYNC_SFN_LOCAL_ENDPOINT`` is unset.

    Set but unusable (a malformed URL, no or a bad ``CLAIMSYNC_MOTO_PORT``) raises ``SfnLocalError``:
    a half-configured target is a mistake to report, not a reason to skip.
    """
    env = os.environ if env is None else env
    endpoint = env.get(ENV_ENDPOINT, "").strip()
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SfnLocalError(f"{ENV_ENDPOINT}={endpoint!r} is not an http(s) URL (e.g. http://localhost:8083)")
    raw_port = env.get(ENV_MOTO_PORT, "").strip()
    if not raw_port:
        raise SfnLocalError(
            f"{ENV_ENDPOINT} is set but {ENV_MOTO_PORT} is not: Step Functions Local reaches moto at the"
            " fixed port given to its container (LAMBDA_ENDPOINT/DYNAMODB_ENDPOINT=http://127.0.0.1:<port>);"
            f" set {ENV_MOTO_PORT} to that port"
        )
    try:
        moto_port = int(raw_port)
    except ValueError:
        moto_port = 0
    if not 1 <= moto_port <= 65535:
        raise SfnLocalError(f"{ENV_MOTO_PORT}={raw_port!r} is not a TCP port (1-65535)")
    return SfnLocalConfig(endpoint_url=endpoint.rstrip("/"), moto_port=moto_port)


def sfn_local_client(config: SfnLocalConfig) -> Any:
    return boto3.client(
        "stepfunctions",
        endpoint_url=config.endpoint_url,
        region_name=config.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - dummy credentials, never real ones
    )


def _moto_client(aws: Mapping[str, Any]) -> Any:
    return boto3.client(
        "stepfunctions",
        endpoint_url=aws["endpoint_url"],
        region_name=aws["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
    )


def _find_state_machine(sfn: Any, name: str) -> str | None:
    kwargs: dict[str, Any] = {}
    while True:
        page = sfn.list_state_machines(**kwargs)
        for machine in page.get("stateMachines", []):
            if machine["name"] == name:
                arn: str = machine["stateMachineArn"]
                return arn
        if not page.get("nextToken"):
            return None
        kwargs["nextToken"] = page["nextToken"]


def _stop_running(sfn: Any, state_machine_arn: str) -> int:
    """Stop executions left RUNNING by an earlier, interrupted session: they would still be calling
    moto (a stale run could take the lock of a new one)."""
    stopped = 0
    kwargs: dict[str, Any] = {"stateMachineArn": state_machine_arn, "statusFilter": "RUNNING"}
    while True:
        page = sfn.list_executions(**kwargs)
        for execution in page.get("executions", []):
            sfn.stop_execution(executionArn=execution["executionArn"], error="Superseded", cause="redeployed")
            stopped += 1
        if not page.get("nextToken"):
            return stopped
        kwargs["nextToken"] = page["nextToken"]


def deploy_to_sfn_local(
    endpoints: Mapping[str, Any],
    config: SfnLocalConfig,
    *,
    client: Any = None,
    moto_client: Any = None,
) -> dict[str, Any]:
    """Deploy the claim-sync state machine, as deployed in moto, into Step Functions Local too.

    The definition is read back from moto, so it is the same rendered ASL: its function ARNs are
    moto's (Step Functions Local invokes them through LAMBDA_ENDPOINT) and its table is moto's (the
    DynamoDB integrations go through DYNAMODB_ENDPOINT). An existing machine of the same name (a
    long-lived container) is updated, and its RUNNING executions stopped.

    Returns ``endpoints["aws"]`` with ``stepfunctions_endpoint`` and ``state_machine_arn`` pointing at
    Step Functions Local (``moto_state_machine_arn`` keeps moto's); other services stay on moto.
    """
    aws = dict(endpoints["aws"])
    moto_port = urlsplit(aws["endpoint_url"]).port
    if moto_port != config.moto_port:
        raise SfnLocalError(
            f"moto listens on port {moto_port}, but Step Functions Local is configured for"
            f" {config.moto_port} ({ENV_MOTO_PORT}): start the world with WorldOptions(moto_port=...)"
        )
    if aws.get("region", config.region) != config.region:
        raise SfnLocalError(
            f"moto's region {aws['region']} differs from Step Functions Local's {config.region}"
        )
    moto_arn: str = aws.get("moto_state_machine_arn") or aws["state_machine_arn"]
    moto_sfn = moto_client if moto_client is not None else _moto_client(aws)
    described = moto_sfn.describe_state_machine(stateMachineArn=moto_arn)
    name, definition = described["name"], described["definition"]
    account = moto_arn.split(":")[4]
    role_arn = f"arn:aws:iam::{account}:role/{_ROLE_NAME}"

    sfn = client if client is not None else sfn_local_client(config)
    try:
        arn = _find_state_machine(sfn, name)
        if arn is None:
            arn = sfn.create_state_machine(
                name=name, definition=definition, roleArn=role_arn, type="STANDARD"
            )["stateMachineArn"]
        else:
            _stop_running(sfn, arn)
            sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=role_arn)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise SfnLocalError(
            f"Step Functions Local at {config.endpoint_url} refused the claim-sync state machine:"
            f" {error.get('Code')}: {error.get('Message')}"
        ) from exc
    except BotoCoreError as exc:
        raise SfnLocalError(
            f"Step Functions Local is not reachable at {config.endpoint_url} ({exc}). Start it with:\n"
            + config.docker_command()
        ) from exc
    aws.update(
        moto_state_machine_arn=moto_arn,
        stepfunctions_endpoint=config.endpoint_url,
        state_machine_arn=arn,
    )
    return aws


def use_sfn_local(endpoints: dict[str, Any], config: SfnLocalConfig, **clients: Any) -> dict[str, Any]:
    """``deploy_to_sfn_local`` and point ``endpoints`` (and the world's endpoints file, so
    ``claimsync local sync`` from another process follows) at Step Functions Local."""
    from local.statedir import ENDPOINTS_FILE

    endpoints["aws"] = deploy_to_sfn_local(endpoints, config, **clients)
    path = Path(endpoints.get("state_dir", "")) / ENDPOINTS_FILE
    if endpoints.get("state_dir") and path.exists():
        write_private(path, json.dumps(endpoints, indent=2))
    return endpoints
