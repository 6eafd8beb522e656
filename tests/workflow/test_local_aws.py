"""The local AWS runtime executes real ASL on moto with Lambda handlers running in this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.aws import LocalAws, execution_summary, follow_execution, wait_for_execution

pytestmark = pytest.mark.workflow

ROLE = "arn:aws:iam::123456789012:role/claimsync-test-sfn"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0


class TransientError(Exception):
    pass


class TerminalError(Exception):
    pass


def run(aws: LocalAws, definition: dict[str, Any], payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create a uniquely named state machine, run it to completion (bounded), return its summary."""
    sfn = aws.client("stepfunctions")
    name = f"t-{uuid.uuid4().hex[:12]}"
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
    execution = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], name="run", input=json.dumps(payload or {})
    )
    wait_for_execution(sfn, execution["executionArn"], deadline_s=DEADLINE_S)
    return execution_summary(sfn, execution["executionArn"])


def lambda_task(function_arn: str, **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
        "ResultSelector": {"result.$": "$.Payload"},
        **fields,
    }


def test_custom_error_is_retried_by_class_name_then_succeeds(local_aws: LocalAws) -> None:
    attempts: list[int] = []

    def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
        attempts.append(event["n"])
        if len(attempts) <= 2:
            raise TransientError(f"attempt {len(attempts)}")
        return {"doubled": event["n"] * 2, "function": context.function_name}

    arn = local_aws.register_function("flaky-retry", flaky)
    retry = {"ErrorEquals": ["TransientError"], "IntervalSeconds": 3, "BackoffRate": 2.0, "MaxAttempts": 3}
    summary = run(
        local_aws,
        {"StartAt": "Call", "States": {"Call": lambda_task(arn, Retry=[retry], End=True)}},
        {"n": 21},
    )

    assert summary["status"] == "SUCCEEDED", summary
    assert summary["output"] == {"result": {"doubled": 42, "function": "flaky-retry"}}
    assert attempts == [21, 21, 21]
    assert local_aws.invocations()["flaky-retry"] == 3
    # Two retries waited 3 s then 6 s in ASL terms, each shortened to the cap.
    retry_sleeps = [s for s in local_aws.sleeps() if s.kind == "retry"][-2:]
    assert [s.requested_s for s in retry_sleeps] == [3.0, 6.0]
    assert all(s.slept_s <= local_aws.max_sleep_s for s in retry_sleeps)
    assert summary["retries"] == 2
    assert summary["state_transitions"] == 3  # one state entered + two retries, as AWS bills


def test_terminal_error_is_caught_and_routed_to_a_recorder_state(local_aws: LocalAws) -> None:
    def explode(event: dict[str, Any], context: Any) -> Any:
        raise TerminalError("report 42 is gone")

    arn = local_aws.register_function("explode", explode)
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": lambda_task(
                arn,
                Retry=[{"ErrorEquals": ["TransientError"], "MaxAttempts": 5}],
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "RecordFailure"}],
                Next="Done",
            ),
            "RecordFailure": {
                "Type": "Pass",
                "Parameters": {
                    "run.$": "$.run",
                    "error.$": "$.failure.Error",
                    "cause.$": "States.StringToJson($.failure.Cause)",
                },
                "Next": "FailRun",
            },
            "FailRun": {"Type": "Fail", "ErrorPath": "$.error", "Cause": "recorded"},
            "Done": {"Type": "Succeed"},
        },
    }
    summary = run(local_aws, definition, {"run": "r-1"})

    assert summary["status"] == "FAILED"
    assert summary["error"] == "TerminalError"
    assert summary["states_entered"] == ["Call", "RecordFailure", "FailRun"]
    assert local_aws.invocations()["explode"] == 1  # not retried: the Retry names another error
    sfn = local_aws.client("stepfunctions")
    recorded = [
        json.loads(e["stateExitedEventDetails"]["output"])
        for e in sfn.get_execution_history(executionArn=summary["execution_arn"])["events"]
        if e["type"] == "PassStateExited"
    ]
    assert recorded[0]["run"] == "r-1"
    assert recorded[0]["cause"]["errorType"] == "TerminalError"
    assert recorded[0]["cause"]["errorMessage"] == "report 42 is gone"


def test_a_30_second_wait_is_shortened(local_aws: LocalAws) -> None:
    started = time.monotonic()
    summary = run(
        local_aws,
        {
            "StartAt": "Wait",
            "States": {"Wait": {"Type": "Wait", "Seconds": 30, "Next": "Done"}, "Done": {"Type": "Succeed"}},
        },
    )

    assert summary["status"] == "SUCCEEDED"
    assert summary["states_entered"] == ["Wait", "Done"]
    last_wait = [s for s in local_aws.sleeps() if s.kind == "wait"][-1]
    assert last_wait.requested_s == 30.0
    assert last_wait.slept_s == pytest.approx(min(30 * local_aws.time_scale, local_aws.max_sleep_s))
    assert time.monotonic() - started < 10


def test_map_with_max_concurrency_runs_handlers_that_write_to_s3(
    local_aws: LocalAws, handler_env: dict[str, str]
) -> None:
    bucket = "claimsync-test-staging"
    local_aws.client("s3").create_bucket(Bucket=bucket)
    active = 0
    peak = 0
    gauge = threading.Lock()

    def stage_page(event: dict[str, Any], context: Any) -> dict[str, Any]:
        nonlocal active, peak
        with gauge:
            active += 1
            peak = max(peak, active)
        try:
            s3 = boto3.client("s3")  # configured by the environment alone, like the deployed handler
            key = f"pages/{event['page']:03d}.json"
            s3.put_object(Bucket=event["bucket"], Key=key, Body=json.dumps({"page": event["page"]}).encode())
            time.sleep(0.01)
            return {"key": key}
        finally:
            with gauge:
                active -= 1

    arn = local_aws.register_function("stage-page", stage_page)
    definition = {
        "StartAt": "Pages",
        "States": {
            "Pages": {
                "Type": "Map",
                "ItemsPath": "$.pages",
                "MaxConcurrency": 5,
                "ItemSelector": {"page.$": "$$.Map.Item.Value", "bucket.$": "$.bucket"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Stage",
                    "States": {
                        "Stage": {**lambda_task(arn, End=True), "ResultSelector": {"key.$": "$.Payload.key"}}
                    },
                },
                "End": True,
            }
        },
    }
    summary = run(local_aws, definition, {"pages": list(range(50)), "bucket": bucket})

    assert summary["status"] == "SUCCEEDED", summary
    assert [item["key"] for item in summary["output"]] == [f"pages/{i:03d}.json" for i in range(50)]
    listed = local_aws.client("s3").list_objects_v2(Bucket=bucket, Prefix="pages/")
    assert sorted(obj["Key"] for obj in listed["Contents"]) == [f"pages/{i:03d}.json" for i in range(50)]
    body = local_aws.client("s3").get_object(Bucket=bucket, Key="pages/049.json")["Body"].read()
    assert json.loads(body) == {"page": 49}
    assert 1 < peak <= 5


def test_dynamodb_conditional_put_fails_the_second_time_and_is_caught(local_aws: LocalAws) -> None:
    table = "claimsync-test-lock"
    local_aws.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    definition = {
        "StartAt": "AcquireLock",
        "States": {
            "AcquireLock": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {
                    "TableName": table,
                    "Item": {"pk": {"S": "LOCK"}, "owner": {"S.$": "$$.Execution.Name"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                },
                "ResultPath": None,
                "Catch": [
                    {
                        "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                        "ResultPath": "$.lock",
                        "Next": "AlreadyRunning",
                    }
                ],
                "Next": "Acquired",
            },
            "Acquired": {"Type": "Pass", "Result": "acquired", "End": True},
            "AlreadyRunning": {"Type": "Pass", "Result": "already running", "End": True},
        },
    }
    sfn = local_aws.client("stepfunctions")
    machine = sfn.create_state_machine(name="lock", definition=json.dumps(definition), roleArn=ROLE)
    outputs = []
    for name in ("first", "second"):
        arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=name, input="{}")[
            "executionArn"
        ]
        wait_for_execution(sfn, arn, deadline_s=DEADLINE_S)
        outputs.append(execution_summary(sfn, arn))

    assert [o["status"] for o in outputs] == ["SUCCEEDED", "SUCCEEDED"]
    assert [o["output"] for o in outputs] == ["acquired", "already running"]
    assert outputs[1]["states_entered"] == ["AcquireLock", "AlreadyRunning"]
    item = local_aws.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "LOCK"}})["Item"]
    assert item["owner"] == {"S": "first"}


def test_direct_invoke_from_a_plain_client_reports_the_function_error(local_aws: LocalAws) -> None:
    def picky(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if "claim" not in event:
            raise ValueError("missing claim")
        return {"ok": event["claim"], "remaining_ms": context.get_remaining_time_in_millis()}

    local_aws.register_function("picky", picky, timeout_s=30)
    client = boto3.client(
        "lambda",
        endpoint_url=local_aws.endpoint_url,
        region_name=local_aws.region,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    good = client.invoke(FunctionName="picky", Payload=json.dumps({"claim": "C1"}).encode())
    bad = client.invoke(FunctionName="picky", Payload=b"{}")

    good_payload = json.loads(good["Payload"].read())
    assert "FunctionError" not in good
    assert good_payload["ok"] == "C1"
    assert 0 < good_payload["remaining_ms"] <= 30_000
    assert bad["FunctionError"] == "Unhandled"
    bad_payload = json.loads(bad["Payload"].read())
    assert (bad_payload["errorType"], bad_payload["errorMessage"]) == ("ValueError", "missing claim")


def test_handler_overrunning_its_timeout_fails_like_lambda(local_aws: LocalAws) -> None:
    release = threading.Event()

    def stuck(event: dict[str, Any], context: Any) -> Any:
        release.wait(10)
        return {}

    arn = local_aws.register_function("stuck", stuck, timeout_s=1)
    try:
        summary = run(local_aws, {"StartAt": "Call", "States": {"Call": lambda_task(arn, End=True)}})
    finally:
        release.set()

    assert summary["status"] == "FAILED"
    assert summary["error"] == "Sandbox.Timedout"


def test_non_json_result_fails_like_the_lambda_runtime(local_aws: LocalAws) -> None:
    arn = local_aws.register_function("leaky", lambda event, context: {"when": object()})
    summary = run(local_aws, {"StartAt": "Call", "States": {"Call": lambda_task(arn, End=True)}})

    assert summary["status"] == "FAILED"
    assert summary["error"] == "Runtime.MarshalError"


def test_follow_execution_yields_each_event_once_until_the_end(local_aws: LocalAws) -> None:
    arn = local_aws.register_function("echo", lambda event, context: event)
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": lambda_task(arn, Next="Wait"),
            "Wait": {"Type": "Wait", "Seconds": 5, "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    sfn = local_aws.client("stepfunctions")
    machine = sfn.create_state_machine(name="follow", definition=json.dumps(definition), roleArn=ROLE)
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="run", input="{}")

    events = list(
        follow_execution(sfn, execution["executionArn"], deadline_s=DEADLINE_S, poll_interval_s=0.01)
    )

    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "ExecutionStarted"
    assert events[-1]["type"] == "ExecutionSucceeded"
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
    assert entered == ["Call", "Wait", "Done"]
    summary = execution_summary(sfn, execution["executionArn"])
    assert summary["history_event_count"] == len(events)
    assert summary["state_transitions"] == 3


def test_another_process_drives_the_workflow_through_the_endpoint(local_aws: LocalAws) -> None:
    seen: list[dict[str, Any]] = []

    def record(event: dict[str, Any], context: Any) -> dict[str, int]:
        seen.append(event)
        return {"n": len(seen)}

    arn = local_aws.register_function("record", record)
    definition = {"StartAt": "Call", "States": {"Call": lambda_task(arn, End=True)}}
    machine = local_aws.client("stepfunctions").create_state_machine(
        name="cross-process", definition=json.dumps(definition), roleArn=ROLE
    )
    # What `claimsync local sync` does: plain boto3 against the endpoint, from another process.
    script = textwrap.dedent(
        """
        import json, sys, time
        import boto3

        sfn = boto3.client("stepfunctions")
        arn = sfn.start_execution(stateMachineArn=sys.argv[1], name="from-child", input='{"from": "child"}')["executionArn"]
        deadline = time.monotonic() + 30
        while (status := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise SystemExit("deadline passed")
            time.sleep(0.05)
        print(json.dumps({"status": status["status"], "output": json.loads(status.get("output", "null"))}))
        """
    )
    env = {"PATH": os.environ.get("PATH", ""), **local_aws.handler_environment()}
    child = subprocess.run(
        [sys.executable, "-c", script, machine["stateMachineArn"]],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result == {"status": "SUCCEEDED", "output": {"result": {"n": 1}}}
    assert seen == [{"from": "child"}]  # the handler ran here, in the process hosting the server


def test_stop_undoes_every_patch() -> None:
    script = textwrap.dedent(
        """
        import os
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.core.config import default_user_config
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
        from local.aws import start_local_aws

        def snapshot():
            return (LambdaSimpleBackend.invoke, retrier_decl.time, WaitFunction._wait_interval,
                    repr(default_user_config), os.environ.get("MOTO_PORT"))

        before = snapshot()
        aws = start_local_aws()
        during = snapshot()
        aws.stop()
        assert snapshot() == before, (snapshot(), before)
        assert during[0] is not before[0] and during[4] is not None
        start_local_aws().stop()  # a second runtime can start after the first stopped
        print("restored")
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip().endswith("restored")


def test_execution_history_pages_as_aws_pages_it(local_aws: LocalAws) -> None:
    """maxResults, nextToken, reverseOrder and includeExecutionData are honoured (moto ignores them:
    every call answered the whole history, which made following a long run cost O(events) a poll)."""
    from botocore.exceptions import ClientError

    states: dict[str, Any] = {
        f"Step{i}": {"Type": "Pass", "Result": {"step": i}, "ResultPath": "$.last", "Next": f"Step{i + 1}"}
        for i in range(12)
    }
    states["Step12"] = {"Type": "Succeed"}
    summary = run(local_aws, {"StartAt": "Step0", "States": states}, {"patient": "input data"})
    sfn = local_aws.client("stepfunctions")
    arn = summary["execution_arn"]
    whole = sfn.get_execution_history(executionArn=arn, maxResults=1000)
    assert "nextToken" not in whole
    ids = [e["id"] for e in whole["events"]]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) > 20

    def paged(**kwargs: Any) -> tuple[list[int], int]:
        seen: list[int] = []
        calls = 0
        token: dict[str, str] = {}
        while calls < 20:  # bounded: 28 events in pages of 5
            page = sfn.get_execution_history(executionArn=arn, maxResults=5, **kwargs, **token)
            calls += 1
            assert len(page["events"]) <= 5
            seen += [e["id"] for e in page["events"]]
            if "nextToken" not in page:
                break
            token = {"nextToken": page["nextToken"]}
        return seen, calls

    forward, calls = paged()
    assert forward == ids and calls == -(-len(ids) // 5)
    backward, _ = paged(reverseOrder=True)
    assert backward == ids[::-1]
    assert len(sfn.get_execution_history(executionArn=arn)["events"]) == min(100, len(ids))  # AWS's default

    with_data = sfn.get_execution_history(executionArn=arn, maxResults=1)["events"][0]
    bare = sfn.get_execution_history(executionArn=arn, maxResults=1, includeExecutionData=False)["events"][0]
    assert "patient" in with_data["executionStartedEventDetails"]["input"]
    assert "input" not in bare["executionStartedEventDetails"]
    assert (
        bare["executionStartedEventDetails"]["roleArn"]
        == with_data["executionStartedEventDetails"]["roleArn"]
    )

    for bad, code in (
        ({"nextToken": "not-a-token"}, "InvalidToken"),
        ({"maxResults": 1001}, "ValidationException"),
    ):
        with pytest.raises(ClientError) as refused:
            sfn.get_execution_history(executionArn=arn, **bad)
        assert refused.value.response["Error"]["Code"] == code
