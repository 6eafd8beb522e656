"""The abnormal-end wiring in the synthesized claim-sync stack: rule -> AbnormalEnd -> dead letters."""

from __future__ import annotations

from typing import Any

import pytest

from claimsync import layout
from stacks.abnormal_end import ASYNC_RETRIES
from tests.infra.conftest import Synthesized
from tests.infra.test_templates import (
    actions,
    logical_id_of,
    only,
    policy_statements_of_role,
    resources,
    shared_target,
)

pytestmark = pytest.mark.infra

SPEC = layout.ABNORMAL_END_FUNCTION


def sync(s: Synthesized) -> dict[str, Any]:
    return s.json(s.stacks.sync)


def the_function(s: Synthesized) -> tuple[str, dict[str, Any]]:
    found = [
        (name, fn)
        for name, fn in resources(sync(s), "AWS::Lambda::Function").items()
        if fn["Properties"]["Handler"] == SPEC.handler
    ]
    assert len(found) == 1
    return found[0]


def test_the_rule_sends_the_state_machines_abnormal_ends_to_abnormal_end(synthesized: Synthesized) -> None:
    template = sync(synthesized)
    rule_id, rule = only(template, "AWS::Events::Rule")
    machine_id, _ = only(template, "AWS::StepFunctions::StateMachine")
    function_id, _ = the_function(synthesized)
    queue_id, _ = only(template, "AWS::SQS::Queue")
    props = rule["Properties"]
    assert props["State"] == "ENABLED"
    assert props["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": [layout.EXECUTION_STATUS_CHANGE],
        "detail": {
            "stateMachineArn": [{"Ref": machine_id}],
            "status": list(layout.ABNORMAL_END_STATUSES),
        },
    }
    (target,) = props["Targets"]
    assert logical_id_of(target["Arn"]) == function_id
    assert logical_id_of(target["DeadLetterConfig"]["Arn"]) == queue_id
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    (permission,) = [
        p["Properties"]
        for p in resources(template, "AWS::Lambda::Permission").values()
        if logical_id_of(p["Properties"]["FunctionName"]) == function_id
    ]
    assert permission["Principal"] == "events.amazonaws.com"
    assert logical_id_of(permission["SourceArn"]) == rule_id


def test_the_function_retries_asynchronously_then_dead_letters(synthesized: Synthesized) -> None:
    template = sync(synthesized)
    function_id, fn = the_function(synthesized)
    queue_id, _ = only(template, "AWS::SQS::Queue")
    assert logical_id_of(fn["Properties"]["DeadLetterConfig"]["TargetArn"]) == queue_id
    assert (fn["Properties"]["Timeout"], fn["Properties"]["MemorySize"]) == (SPEC.timeout_s, SPEC.memory_mb)
    assert SPEC.timeout_s == 900, "Lambda's maximum: it may wait for an upload Lambda still running"
    (config,) = resources(template, "AWS::Lambda::EventInvokeConfig").values()
    assert logical_id_of(config["Properties"]["FunctionName"]) == function_id
    assert config["Properties"]["MaximumRetryAttempts"] == ASYNC_RETRIES


def test_dead_letters_are_encrypted_with_the_project_key_and_alarm(synthesized: Synthesized) -> None:
    template = sync(synthesized)
    queue_id, queue = only(template, "AWS::SQS::Queue")
    shared = synthesized.json(synthesized.stacks.shared)
    stack = synthesized.stacks.shared
    key_id = stack.get_logical_id(stack.key.node.default_child)  # the project key, not the JWT signing key
    key = shared["Resources"][key_id]
    assert logical_id_of(shared_target(synthesized, queue["Properties"]["KmsMasterKeyId"])) == key_id
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    events = [st for st in statements if st.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert len(events) == 1 and set(actions(events)) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert "aws:SourceAccount" in events[0]["Condition"]["StringEquals"]
    (policy,) = resources(template, "AWS::SQS::QueuePolicy").values()
    denies = [st for st in policy["Properties"]["PolicyDocument"]["Statement"] if st["Effect"] == "Deny"]
    assert denies and denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    watching = [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/SQS"
    ]
    assert [logical_id_of(d["Value"]) for a in watching for d in a["Dimensions"]] == [queue_id]
    assert watching[0]["MetricName"] == "ApproximateNumberOfMessagesVisible"


def test_abnormal_end_gets_exactly_the_access_it_uses(synthesized: Synthesized) -> None:
    template = sync(synthesized)
    _, fn = the_function(synthesized)
    statements = policy_statements_of_role(template, logical_id_of(fn["Properties"]["Role"]))
    by_action = {a: st for st in statements for a in actions([st])}
    assert {a for a in by_action if not a.startswith(("kms:", "logs:", "xray:"))} == {
        "s3:GetObject",
        "s3:ListBucket",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "states:GetExecutionHistory",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "sqs:SendMessage",
    }
    # S3: only the runs' upload state (and listing, so a missing state is 404, not 403).
    bucket_id = logical_id_of(template["Outputs"]["StagingBucketName"]["Value"])
    get = by_action["s3:GetObject"]["Resource"]
    assert get == {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/runs/*/upload/state.json"]]}
    assert logical_id_of(by_action["s3:ListBucket"]["Resource"]) == bucket_id  # a missing state: 404
    # DynamoDB: RUN records and the LOCK item, never the checkpoint; no read needed.
    table_id = logical_id_of(template["Outputs"]["SyncTableName"]["Value"])
    items = by_action["dynamodb:PutItem"]
    assert items is by_action["dynamodb:DeleteItem"] and logical_id_of(items["Resource"]) == table_id
    assert items["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["RUN", "LOCK"]}}
    assert "dynamodb:GetItem" not in by_action
    # Step Functions: the history of this state machine's executions only.
    machine_name = only(template, "AWS::StepFunctions::StateMachine")[1]["Properties"]["StateMachineName"]
    history = by_action["states:GetExecutionHistory"]["Resource"]
    assert history["Fn::Join"][1][-1] == f":execution:{machine_name}:*"
    # Secrets: the Salesforce secret only.
    shared = synthesized.stacks.shared
    secret = by_action["secretsmanager:GetSecretValue"]["Resource"]
    assert logical_id_of(shared_target(synthesized, secret)) == shared.get_logical_id(
        shared.secrets.salesforce.node.default_child
    )


def test_the_state_machine_cannot_invoke_abnormal_end(synthesized: Synthesized) -> None:
    """AbnormalEnd is no step of the run: only EventBridge invokes it."""
    template = sync(synthesized)
    function_id, _ = the_function(synthesized)
    _, machine = only(template, "AWS::StepFunctions::StateMachine")
    statements = policy_statements_of_role(template, logical_id_of(machine["Properties"]["RoleArn"]))
    invoked = {
        logical_id_of(r)
        for st in statements
        if "lambda:InvokeFunction" in actions([st])
        for r in st["Resource"]
    }
    assert function_id not in invoked
    assert SPEC.placeholder not in machine["Properties"]["DefinitionSubstitutions"]
