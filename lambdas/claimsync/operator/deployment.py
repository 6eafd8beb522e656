"""Which claim sync the operator verbs act on: the deployed stack's state machine, bucket and table.

A deployed stack is found through its CloudFormation outputs (``stacks/sync_stack.py`` declares
them under these names); the local world builds the same :class:`Deployment` from its endpoints file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_STACK_NAME = "Claimsync-ClaimSync"
# CfnOutput names of the claim-sync stack (stacks/sync_stack.py).
OUTPUT_STATE_MACHINE = "StateMachineArn"
OUTPUT_BUCKET = "StagingBucketName"
OUTPUT_TABLE = "SyncTableName"
# optional: stacks deployed before `claimsync claim` lack it. An output name, not a secret:
OUTPUT_SALESFORCE_SECRET = "SalesforceSecretArn"  # noqa: S105


class OperatorError(Exception):
    """Something the operator can fix (wrong stack name, unknown run, stack not deployed)."""


@dataclass(frozen=True)
class Deployment:
    stack_name: str
    state_machine_arn: str
    bucket: str
    table: str
    salesforce_secret: str = ""  # the Salesforce secret's ARN (``claimsync claim`` reads the record)


def find_deployment(cloudformation: Any, stack_name: str = DEFAULT_STACK_NAME) -> Deployment:
    """The state machine, bucket and table of the deployed claim-sync stack, from its outputs."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
        if exc.response["Error"].get("Code") != "ValidationError":
            raise  # access denied, expired token, ...: not the operator's stack name
        raise OperatorError(f"stack {stack_name!r} not found: {exc.response['Error']['Message']}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [k for k in (OUTPUT_STATE_MACHINE, OUTPUT_BUCKET, OUTPUT_TABLE) if k not in outputs]
    if missing:
        raise OperatorError(f"stack {stack_name!r} has no outputs {missing}: is it the claim-sync stack?")
    return Deployment(
        stack_name=stack_name,
        state_machine_arn=outputs[OUTPUT_STATE_MACHINE],
        bucket=outputs[OUTPUT_BUCKET],
        table=outputs[OUTPUT_TABLE],
        salesforce_secret=outputs.get(OUTPUT_SALESFORCE_SECRET, ""),
    )
