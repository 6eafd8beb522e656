"""What the claim-sync ASL relies on moto's interpreter to do as AWS does, each asserted here.

Each test runs a small state machine shaped like states of `statemachine/claim_sync.asl.json`, with
the tiny handlers of `asl_handlers.py`, and asserts the outcome AWS documents. A moto upgrade that
changes one of these behaviours fails `make test` here, with a name that says which, instead of
somewhere deep in a sync test. `test_every_asl_feature_is_covered` reads the ASL itself and fails
when it starts using a feature (state field, retrier field, intrinsic, context path, Choice
operator, service integration, ...) that no test here covers: add a test, then the feature to
`COVERED`. Features the ASL does not use are not tested (local/aws/README.md lists known gaps).
"""

from __future__ import annotations

import datetime
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from claimsync import layout
from local.aws import LocalAws, execution_summary, wait_for_execution
from tests.workflow import asl_handlers

pytestmark = pytest.mark.workflow

ROLE = "arn:aws:iam::123456789012:role/claimsync-test-sfn"
TABLE = "claimsync-fidelity"
DEADLINE_S = 30.0
AWS_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")  # 2024-01-02T03:04:05.678Z

# The Lambda retrier every ASL Task carries (errors of the Lambda service; moto never raises them).
LAMBDA_SERVICE_RETRY = {
    "ErrorEquals": ["Lambda.ServiceException", "Lambda.TooManyRequestsException"],
    "IntervalSeconds": 2,
    "MaxAttempts": 4,
    "BackoffRate": 2.0,
    "JitterStrategy": "FULL",
}


# --------------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------------


class Machine:
    """One state machine; `run()` starts a named execution and returns its summary (bounded wait)."""

    def __init__(self, sfn: Any, definition: dict[str, Any]) -> None:
        self.sfn = sfn
        self.arn = sfn.create_state_machine(
            name=f"t-{uuid.uuid4().hex[:12]}", definition=json.dumps(definition), roleArn=ROLE
        )["stateMachineArn"]

    def run(self, payload: dict[str, Any] | None = None, name: str = "run") -> dict[str, Any]:
        execution = self.sfn.start_execution(
            stateMachineArn=self.arn, name=name, input=json.dumps(payload or {})
        )["executionArn"]
        wait_for_execution(self.sfn, execution, deadline_s=DEADLINE_S)
        return execution_summary(self.sfn, execution)

    def history(self, summary: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.sfn.get_execution_history(
            executionArn=summary["execution_arn"], maxResults=1000
        )["events"]
        return events


@dataclass(frozen=True)
class World:
    """The local AWS with the test functions and the sync table, and one client per service (a
    client costs a few hundred milliseconds to build on a loaded machine)."""

    aws: LocalAws
    sfn: Any
    dynamodb: Any
    fn: dict[str, str]  # function ARNs by handler name; tasks use them as plain `Resource`s, as the ASL
    table: str

    def machine(self, definition: dict[str, Any]) -> Machine:
        return Machine(self.sfn, definition)

    def run(self, definition: dict[str, Any], payload: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.machine(definition).run(payload)

    def sleeps_since(self, before: int, kind: str) -> list[float]:
        """The Wait or Retry pauses the interpreter asked for (in ASL seconds) since `before`."""
        return [s.requested_s for s in self.aws.sleeps()[before:] if s.kind == kind]


@pytest.fixture(scope="module")
def world(local_aws: LocalAws) -> World:
    handlers = ("echo", "fail_then_succeed", "check_job", "work")
    fn = {name: local_aws.register_function(name, getattr(asl_handlers, name)) for name in handlers}
    dynamodb = local_aws.client("dynamodb")
    # The sync table's key schema (pk, sk), as `claimsync local up` and the stack create it.
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": layout.TABLE_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": layout.TABLE_SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": layout.TABLE_PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": layout.TABLE_SORT_KEY, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return World(local_aws, local_aws.client("stepfunctions"), dynamodb, fn, TABLE)


def task(resource: str, **fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, **fields}


def chain(*states: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """A definition whose states run in the given order unless they say otherwise."""
    named: dict[str, Any] = {}
    for index, (name, state) in enumerate(states):
        if state["Type"] not in ("Choice", "Fail", "Succeed") and "Next" not in state and "End" not in state:
            state = {
                **state,
                **({"Next": states[index + 1][0]} if index + 1 < len(states) else {"End": True}),
            }
        named[name] = state
    return {"StartAt": states[0][0], "States": named}


def state_outputs(events: list[dict[str, Any]], state: str) -> list[Any]:
    """The output of every exit from `state`, in history order."""
    return [
        json.loads(e["stateExitedEventDetails"]["output"])
        for e in events
        if e["type"].endswith("StateExited") and e["stateExitedEventDetails"]["name"] == state
    ]


def lambda_results(events: list[dict[str, Any]]) -> list[Any]:
    """What each Lambda invocation returned, in history order."""
    return [
        json.loads(e["lambdaFunctionSucceededEventDetails"]["output"])
        for e in events
        if e["type"] == "LambdaFunctionSucceeded"
    ]


def task_attempts(events: list[dict[str, Any]]) -> int:
    return sum(1 for e in events if e["type"] == "LambdaFunctionScheduled")


# --------------------------------------------------------------------------------------------------
# Lambda tasks: parameters, context object, result placement
# --------------------------------------------------------------------------------------------------


def test_prepare_run_gets_its_input_and_the_execution_name_and_start_time(world: World) -> None:
    """PrepareRun: `$`, `$$.Execution.Name` and `$$.Execution.StartTime` into a function-ARN Task
    whose result replaces the whole state (`ResultPath: "$"`).

    Needs LocalAws's fix: moto keeps StartTime as a Python datetime, which reaches the handler as
    `2024-01-02T03:04:05.678901+00:00`; AWS sends `2024-01-02T03:04:05.678Z`."""
    definition = chain(
        (
            "PrepareRun",
            task(
                world.fn["echo"],
                Parameters={
                    "input.$": "$",
                    "run_id.$": "$$.Execution.Name",
                    "started_at.$": "$$.Execution.StartTime",
                },
                ResultPath="$",
            ),
        )
    )
    machine = world.machine(definition)
    summary = machine.run({"full_sync": True}, name="run-2024-01-02")

    assert summary["status"] == "SUCCEEDED", summary
    output = summary["output"]
    assert output["input"] == {"full_sync": True}
    assert output["run_id"] == "run-2024-01-02"
    assert AWS_TIMESTAMP.match(output["started_at"]), output["started_at"]
    start = machine.sfn.describe_execution(executionArn=summary["execution_arn"])["startDate"]
    started_at = datetime.datetime.fromisoformat(output["started_at"].replace("Z", "+00:00"))
    assert abs((started_at - start).total_seconds()) < 0.002


def test_result_path_merges_results_and_null_or_output_path_narrows_them(world: World) -> None:
    """StartUpload/CheckUpload (`Parameters` from nested paths, `ResultPath: "$.upload"`),
    TransformPage (`ResultPath: null` then `OutputPath: "$.page"`) and Done (`OutputPath`)."""
    definition = chain(
        (
            "StartUpload",
            task(
                world.fn["echo"],
                Parameters={"run.$": "$.run", "page_count.$": "$.sources.report.page_count"},
                ResultPath="$.upload",
            ),
        ),
        ("TransformPage", task(world.fn["echo"], Parameters={"x": 1}, ResultPath=None, OutputPath="$.page")),
        ("Done", {"Type": "Pass", "OutputPath": "$.summary"}),
    )
    payload = {"run": {"run_id": "r1"}, "sources": {"report": {"page_count": 4}}, "page": {"summary": 7}}
    machine = world.machine(definition)
    summary = machine.run(payload)

    assert summary["status"] == "SUCCEEDED", summary
    assert summary["output"] == 7
    events = machine.history(summary)
    assert state_outputs(events, "StartUpload") == [
        {**payload, "upload": {"run": {"run_id": "r1"}, "page_count": 4}}
    ]
    assert state_outputs(events, "TransformPage") == [{"summary": 7}]


# --------------------------------------------------------------------------------------------------
# Retry, Catch, Fail
# --------------------------------------------------------------------------------------------------


def retrying_task(fn: dict[str, str], retry: list[dict[str, Any]], errors: list[str]) -> dict[str, Any]:
    return chain(
        (
            "Call",
            task(
                fn["fail_then_succeed"],
                Parameters={"attempt.$": "$$.State.RetryCount", "errors": errors},
                Retry=retry,
            ),
        )
    )


def failing(fn: dict[str, str], **fields: Any) -> dict[str, Any]:
    """A Task whose handler raises `Terminal("attempt 1")`, an error no retrier names."""
    return task(fn["fail_then_succeed"], Parameters={"attempt": 0, "errors": ["Terminal"]}, **fields)


def test_retriers_match_the_exception_class_and_each_backs_off_on_its_own_count(world: World) -> None:
    """StartUpload's two domain retriers: the first retrier naming the handler's exception class
    applies, each with its own attempt count, interval x BackoffRate^n capped by MaxDelaySeconds."""
    retry = [
        {
            "ErrorEquals": ["Transient"],
            "IntervalSeconds": 2,
            "BackoffRate": 3.0,
            "MaxDelaySeconds": 5,
            "MaxAttempts": 5,
        },
        {
            "ErrorEquals": ["Throttled"],
            "IntervalSeconds": 60,
            "BackoffRate": 3.0,
            "MaxDelaySeconds": 600,
            "MaxAttempts": 3,
        },
        LAMBDA_SERVICE_RETRY,
    ]
    before = len(world.aws.sleeps())
    summary = world.run(
        retrying_task(world.fn, retry, ["Transient", "Throttled", "Transient", "Throttled", "Transient"])
    )

    assert summary["status"] == "SUCCEEDED", summary
    assert summary["output"] == {"attempts": 6}
    # Transient: 2, 2*3 -> 5 (capped), 2*9 -> 5; Throttled: 60, 180.
    assert world.sleeps_since(before, "retry") == [2.0, 60.0, 5.0, 180.0, 5.0]
    assert summary["retries"] == 5
    assert summary["state_transitions"] == 6  # one state entered + five retries, as AWS bills


def test_full_jitter_draws_each_interval_at_random_below_its_capped_backoff(world: World) -> None:
    """Every ASL retrier has `JitterStrategy: FULL`: each pause is drawn from [0, its interval]."""
    retry = [
        {
            "ErrorEquals": ["Transient"],
            "IntervalSeconds": 10,
            "BackoffRate": 2.0,
            "MaxDelaySeconds": 15,
            "MaxAttempts": 6,
            "JitterStrategy": "FULL",
        }
    ]
    before = len(world.aws.sleeps())
    summary = world.run(retrying_task(world.fn, retry, ["Transient"] * 6))

    assert summary["status"] == "SUCCEEDED", summary
    pauses = world.sleeps_since(before, "retry")
    caps = [10.0, 15.0, 15.0, 15.0, 15.0, 15.0]  # 10 x 2^n, capped by MaxDelaySeconds
    assert len(pauses) == len(caps)
    assert all(0 <= pause <= cap for pause, cap in zip(pauses, caps, strict=True)), pauses
    assert pauses != caps  # drawn, not the backoff itself


def test_exhausted_retries_are_caught_recorded_and_fail_the_run_with_the_class_name(world: World) -> None:
    """Every step's failure path: retries exhausted -> `Catch States.ALL` with `ResultPath: "$.error"`
    -> a `<Step>Failed` Pass picks Error and Cause -> `RunFailed` (`ErrorPath`/`CausePath`)."""
    definition = chain(
        (
            "CheckUpload",
            task(
                world.fn["fail_then_succeed"],
                Parameters={"attempt.$": "$$.State.RetryCount", "errors": ["Transient"] * 9},
                Retry=[
                    {"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "MaxAttempts": 2},
                    LAMBDA_SERVICE_RETRY,
                ],
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "CheckUploadFailed"}],
                Next="Unreachable",
            ),
        ),
        ("Unreachable", {"Type": "Succeed"}),
        (
            "CheckUploadFailed",
            {
                "Type": "Pass",
                "Parameters": {
                    "state": "CheckUpload",
                    "error.$": "$.error.Error",
                    "cause.$": "$.error.Cause",
                },
                "ResultPath": "$.failure",
            },
        ),
        ("RunFailed", {"Type": "Fail", "ErrorPath": "$.failure.error", "CausePath": "$.failure.cause"}),
    )
    machine = world.machine(definition)
    summary = machine.run({"run": {"run_id": "r1"}})

    assert summary["status"] == "FAILED"
    assert summary["error"] == "Transient"
    cause = json.loads(summary["cause"])
    assert (cause["errorType"], cause["errorMessage"]) == ("Transient", "attempt 3")
    assert summary["states_entered"] == ["CheckUpload", "CheckUploadFailed", "RunFailed"]
    events = machine.history(summary)
    assert task_attempts(events) == 3
    [recorded] = state_outputs(events, "CheckUploadFailed")
    assert recorded["run"] == {"run_id": "r1"}  # the input survives beside the error
    assert recorded["failure"]["state"] == "CheckUpload"
    assert recorded["failure"]["error"] == "Transient"


def test_an_error_no_retrier_names_is_not_retried(world: World) -> None:
    definition = chain(
        (
            "Call",
            failing(world.fn, Retry=[{"ErrorEquals": ["Transient"], "MaxAttempts": 5}, LAMBDA_SERVICE_RETRY]),
        )
    )
    machine = world.machine(definition)
    summary = machine.run()

    assert (summary["status"], summary["error"]) == ("FAILED", "Terminal")
    assert task_attempts(machine.history(summary)) == 1


def test_input_rejected_fails_with_its_fixed_error_and_the_caught_cause(world: World) -> None:
    """InputRejected: `Fail` with a fixed `Error` and a `CausePath`."""
    definition = chain(
        (
            "PrepareRun",
            failing(
                world.fn,
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "InputRejected"}],
            ),
        ),
        ("InputRejected", {"Type": "Fail", "Error": "InvalidInput", "CausePath": "$.error.Cause"}),
    )
    summary = world.run(definition)

    assert (summary["status"], summary["error"]) == ("FAILED", "InvalidInput")
    assert json.loads(summary["cause"])["errorMessage"] == "attempt 1"


# --------------------------------------------------------------------------------------------------
# Timeouts
# --------------------------------------------------------------------------------------------------


def test_task_timeout_is_caught_as_states_timeout_and_not_retried(world: World) -> None:
    """A Task's `TimeoutSeconds` (real seconds locally) fails it with States.Timeout; the Lambda
    retrier does not match it, `Catch States.ALL` does."""
    definition = chain(
        (
            "Call",
            task(
                world.fn["work"],
                TimeoutSeconds=1,
                Retry=[LAMBDA_SERVICE_RETRY],
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
                Next="Unreachable",
            ),
        ),
        ("Unreachable", {"Type": "Succeed"}),
        ("Caught", {"Type": "Pass", "OutputPath": "$.error"}),
    )
    machine = world.machine(definition)
    summary = machine.run({"hold_s": 6})

    assert summary["status"] == "SUCCEEDED", summary
    assert summary["output"]["Error"] == "States.Timeout"
    assert summary["duration_s"] < 5  # not the 6 s the handler takes
    assert task_attempts(machine.history(summary)) == 1


def test_execution_timeout_ends_the_run_timed_out(world: World) -> None:
    """The ASL's top-level `TimeoutSeconds` (real seconds locally)."""
    definition = {**chain(("Call", task(world.fn["work"]))), "TimeoutSeconds": 1}
    started = time.monotonic()
    summary = world.run(definition, {"hold_s": 6})

    assert summary["status"] == "TIMED_OUT"
    assert time.monotonic() - started < 5  # not the 6 s the handler takes


# --------------------------------------------------------------------------------------------------
# Polling loops and Parallel
# --------------------------------------------------------------------------------------------------


def report_branch(fn: dict[str, str], ready_after: int) -> dict[str, Any]:
    """GatherSources' first branch: StartReport -> (WaitForReport -> CheckReport -> IsReportReady)*."""
    return chain(
        (
            "StartReport",
            task(
                fn["echo"],
                Parameters={"polls": 0, "ready_after": ready_after, "poll_seconds": 45, "state": "STARTED"},
                ResultPath="$.request",
            ),
        ),
        ("WaitForReport", {"Type": "Wait", "SecondsPath": "$.request.poll_seconds"}),
        ("CheckReport", task(fn["check_job"], Parameters={"job.$": "$.request"}, ResultPath="$.request")),
        (
            "IsReportReady",
            {
                "Type": "Choice",
                "Choices": [{"Variable": "$.request.state", "StringEquals": "READY", "Next": "ReportStaged"}],
                "Default": "WaitForReport",
            },
        ),
        ("ReportStaged", {"Type": "Pass", "OutputPath": "$.request"}),
    )


def test_gather_sources_and_the_upload_loop_poll_until_done(world: World) -> None:
    """GatherSources (Parallel; branch results as an array picked apart by `ResultSelector`) and the
    upload loop (`BooleanEquals`), both waiting `SecondsPath` seconds as the last poll asked."""
    gather = {
        "Type": "Parallel",
        "Branches": [
            report_branch(world.fn, ready_after=3),
            chain(("LoadPayors", task(world.fn["echo"], Parameters={"payors": 2}))),
        ],
        "ResultSelector": {"report.$": "$[0]", "payors.$": "$[1]"},
        "ResultPath": "$.sources",
    }
    definition = chain(
        ("GatherSources", gather),
        (
            "StartUpload",
            task(
                world.fn["echo"],
                Parameters={"polls": 0, "ready_after": 2, "poll_seconds": 10, "pending": True},
                ResultPath="$.upload",
            ),
        ),
        (
            "IsUploadPending",
            {
                "Type": "Choice",
                "Choices": [{"Variable": "$.upload.pending", "BooleanEquals": True, "Next": "WaitForUpload"}],
                "Default": "FinishRun",
            },
        ),
        ("WaitForUpload", {"Type": "Wait", "SecondsPath": "$.upload.poll_seconds", "Next": "CheckUpload"}),
        (
            "CheckUpload",
            task(
                world.fn["check_job"],
                Parameters={"job.$": "$.upload"},
                ResultPath="$.upload",
                Next="IsUploadPending",
            ),
        ),
        ("FinishRun", {"Type": "Pass", "End": True}),
    )
    before = len(world.aws.sleeps())
    summary = world.run(definition, {"run": {"run_id": "r1"}})

    assert summary["status"] == "SUCCEEDED", summary
    sources = summary["output"]["sources"]
    assert sources["report"] == {
        "polls": 3,
        "ready_after": 3,
        "poll_seconds": 48,
        "state": "READY",
        "pending": False,
    }
    assert sources["payors"] == {"payors": 2}
    assert summary["output"]["upload"]["polls"] == 2
    assert world.sleeps_since(before, "wait") == [45.0, 46.0, 47.0, 10.0, 11.0]
    assert summary["states_entered"].count("CheckReport") == 3
    assert summary["states_entered"].count("CheckUpload") == 2


def test_a_failing_branch_fails_gather_sources_and_stops_the_other_branch(world: World) -> None:
    """LoadPayors fails while the report branch polls: the Parallel fails with that error at once
    (caught by its Catch) and the polling branch stops, as on AWS; it does not poll to the end."""
    ready_after = 50
    settle = [(f"Settle{i}", {"Type": "Wait", "Seconds": 5}) for i in range(16)]  # 16 scaled pauses
    gather = {
        "Type": "Parallel",
        "Branches": [report_branch(world.fn, ready_after), chain(*settle, ("LoadPayors", failing(world.fn)))],
        "ResultSelector": {"report.$": "$[0]", "payors.$": "$[1]"},
        "ResultPath": "$.sources",
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "GatherSourcesFailed"}],
        "Next": "Unreachable",
    }
    definition = chain(
        ("GatherSources", gather),
        ("Unreachable", {"Type": "Succeed"}),
        ("GatherSourcesFailed", {"Type": "Pass", "OutputPath": "$.error"}),
    )
    summary = world.run(definition)

    assert summary["status"] == "SUCCEEDED", summary
    assert summary["output"]["Error"] == "Terminal"
    polls = summary["states_entered"].count("CheckReport")
    assert 1 <= polls < ready_after - 1, polls
    assert summary["states_entered"][-1] == "GatherSourcesFailed"


# --------------------------------------------------------------------------------------------------
# Map
# --------------------------------------------------------------------------------------------------


def transform_pages(fn: dict[str, str], max_concurrency: int) -> dict[str, Any]:
    """TransformPages: a Map over page numbers, each iteration's input built by `ItemSelector`."""
    return {
        "Type": "Map",
        "ItemsPath": "$.sources.report.pages",
        "MaxConcurrency": max_concurrency,
        "ItemSelector": {
            "run.$": "$.run",
            "page.$": "$$.Map.Item.Value",
            "page_count.$": "$.sources.report.page_count",
            "hold_s.$": "$.hold_s",
            "fail_page.$": "$.fail_page",
        },
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "TransformPage",
            "States": {
                "TransformPage": task(
                    fn["work"],
                    ResultPath=None,
                    OutputPath="$.page",
                    Retry=[LAMBDA_SERVICE_RETRY],
                    End=True,
                )
            },
        },
        "ResultPath": None,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "TransformPagesFailed"}],
        "Next": "StartUpload",
    }


def map_machine(fn: dict[str, str], max_concurrency: int) -> dict[str, Any]:
    return chain(
        ("TransformPages", transform_pages(fn, max_concurrency)),
        ("StartUpload", {"Type": "Pass", "End": True}),
        ("TransformPagesFailed", {"Type": "Pass", "OutputPath": "$.error"}),
    )


def test_transform_pages_runs_every_page_at_most_max_concurrency_at_a_time(world: World) -> None:
    pages = list(range(9))
    payload = {
        "run": {"run_id": "r1"},
        "sources": {"report": {"pages": pages, "page_count": len(pages)}},
        "hold_s": 0.2,
        "fail_page": None,
    }
    machine = world.machine(map_machine(world.fn, max_concurrency=3))
    summary = machine.run(payload)

    assert summary["status"] == "SUCCEEDED", summary
    assert summary["output"] == payload  # `ResultPath: null` keeps the Map's input
    events = machine.history(summary)
    # `ResultPath: null` drops the handler's result, `OutputPath: "$.page"` leaves the page number.
    assert sorted(state_outputs(events, "TransformPage")) == pages
    ran = lambda_results(events)
    assert sorted(r["page"] for r in ran) == pages
    assert all(r["run"] == {"run_id": "r1"} and r["page_count"] == 9 for r in ran)
    overlaps = [sum(1 for o in ran if o["started"] <= r["started"] < o["ended"]) for r in ran]
    assert 2 <= max(overlaps) <= 3, overlaps  # concurrent, and never above MaxConcurrency


def test_a_failing_page_fails_the_map_and_is_caught(world: World) -> None:
    payload = {
        "run": {"run_id": "r1"},
        "sources": {"report": {"pages": list(range(6)), "page_count": 6}},
        "hold_s": 0,
        "fail_page": 4,
    }
    summary = world.run(map_machine(world.fn, max_concurrency=3), payload)

    assert summary["status"] == "SUCCEEDED", summary
    assert summary["output"]["Error"] == "Terminal"
    assert json.loads(summary["output"]["Cause"])["errorMessage"] == "page 4"
    assert summary["states_entered"][-1] == "TransformPagesFailed"


# --------------------------------------------------------------------------------------------------
# DynamoDB direct integrations
# --------------------------------------------------------------------------------------------------


LOCK_KEY = {"pk": {"S": layout.LOCK_PK}, "sk": {"S": layout.LOCK_SK}}


def lock_machine(table: str) -> dict[str, Any]:
    """AcquireLock -> ReleaseLock, as in the ASL; the release names `$.release_as` as the owner."""
    acquire = task(
        "arn:aws:states:::dynamodb:putItem",
        Parameters={
            "TableName": table,
            "Item": {
                **LOCK_KEY,
                "owner": {"S.$": "$.run.run_id"},
                "lock_until": {"N.$": "$.run.lock_until"},
                "expires_at": {"N.$": "$.run.lock_expires_at"},
            },
            "ConditionExpression": "attribute_not_exists(pk) OR lock_until < :now",
            "ExpressionAttributeValues": {":now": {"N.$": "$.run.now"}},
        },
        ResultPath=None,
        Catch=[
            {
                "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                "ResultPath": None,
                "Next": "AlreadyRunning",
            },
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "AcquireLockFailed"},
        ],
        Next="ReleaseLock",
    )
    release = task(
        "arn:aws:states:::dynamodb:deleteItem",
        Parameters={
            "TableName": table,
            "Key": LOCK_KEY,
            "ConditionExpression": "#owner = :me",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":me": {"S.$": "$.release_as"}},
        },
        ResultPath=None,
        Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Done"}],
        Next="Done",
    )
    return chain(
        ("AcquireLock", acquire),
        ("ReleaseLock", release),
        ("Done", {"Type": "Pass", "Result": "released or not", "ResultPath": "$.done", "End": True}),
        (
            "AlreadyRunning",
            {
                "Type": "Pass",
                "Parameters": {"status": "ALREADY_RUNNING", "run_id.$": "$.run.run_id"},
                "End": True,
            },
        ),
        ("AcquireLockFailed", {"Type": "Fail", "ErrorPath": "$.error.Error"}),
    )


def test_the_lock_is_taken_refused_taken_over_and_released_only_by_its_owner(world: World) -> None:
    """AcquireLock's conditional putItem (the specific Catch before `States.ALL`) and ReleaseLock's
    owner-conditional deleteItem, whose refusal is caught."""
    machine = world.machine(lock_machine(world.table))

    def attempt(run_id: str, now: int, release_as: str) -> dict[str, Any]:
        run = {
            "run_id": run_id,
            "now": str(now),
            "lock_until": str(now + 100),
            "lock_expires_at": str(now + 1000),
        }
        return machine.run({"run": run, "release_as": release_as}, name=run_id)

    def lock() -> dict[str, Any] | None:
        item: dict[str, Any] | None = world.dynamodb.get_item(TableName=world.table, Key=LOCK_KEY).get("Item")
        return item

    first = attempt("first", now=1000, release_as="someone-else")
    assert first["states_entered"] == ["AcquireLock", "ReleaseLock", "Done"], first
    failed = [e for e in machine.history(first) if e["type"] == "TaskFailed"]
    assert [e["taskFailedEventDetails"]["error"] for e in failed] == [
        "DynamoDB.ConditionalCheckFailedException"
    ]
    assert lock() == {
        **LOCK_KEY,
        "owner": {"S": "first"},
        "lock_until": {"N": "1100"},
        "expires_at": {"N": "2000"},
    }

    second = attempt("second", now=1050, release_as="second")  # the lock holds until 1100
    assert (second["status"], second["output"]) == (
        "SUCCEEDED",
        {"status": "ALREADY_RUNNING", "run_id": "second"},
    )
    assert second["states_entered"] == ["AcquireLock", "AlreadyRunning"]
    held = lock()
    assert held is not None and held["owner"] == {"S": "first"}

    third = attempt("third", now=1101, release_as="third")  # past lock_until: a crashed run's lock
    assert third["states_entered"] == ["AcquireLock", "ReleaseLock", "Done"], third
    assert not [e for e in machine.history(third) if e["type"] == "TaskFailed"]
    assert lock() is None


def test_checkpoint_and_run_records_round_trip_through_dynamodb(world: World) -> None:
    """LoadCheckpoint (getItem, ConsistentRead: no `Item` when absent), SaveCheckpoint and RecordRun
    (putItem with `States.Format`, `States.JsonToString` and `$$.State.EnteredTime`).

    Needs LocalAws's fix for the timestamp format: moto writes EnteredTime as
    `2024-01-02T03:04:05.678901+00:00`, AWS as `2024-01-02T03:04:05.678Z`."""
    checkpoint_key = {"pk": {"S": layout.CHECKPOINT_PK}, "sk": {"S": layout.CHECKPOINT_SK}}
    load = task(
        "arn:aws:states:::dynamodb:getItem",
        Parameters={"TableName": world.table, "Key": checkpoint_key, "ConsistentRead": True},
        ResultPath="$.checkpoint",
    )
    save = task(
        "arn:aws:states:::dynamodb:putItem",
        Parameters={
            "TableName": world.table,
            "Item": {
                **checkpoint_key,
                "snapshot_prefix": {"S.$": "$.summary.snapshot_prefix"},
                "shard_count": {"N.$": "States.Format('{}', $.summary.page_count)"},
                "updated_at": {"S.$": "$$.State.EnteredTime"},
            },
        },
        ResultPath=None,
    )
    record = task(
        "arn:aws:states:::dynamodb:putItem",
        Parameters={
            "TableName": world.table,
            "Item": {
                "pk": {"S": layout.RUN_PK},
                "sk": {"S.$": "$.run.run_id"},
                "status": {"S.$": "$.summary.status"},
                "summary": {"S.$": "States.JsonToString($.summary)"},
                "expires_at": {"N.$": "$.run.record_expires_at"},
            },
        },
        ResultPath=None,
    )
    definition = chain(("LoadCheckpoint", load), ("SaveCheckpoint", save), ("RecordRun", record))
    summary_in = {
        "status": "SUCCEEDED",
        "snapshot_prefix": "snapshots/r1/",
        "page_count": 16,
        "rejects": {"X": 1},
    }
    machine = world.machine(definition)

    first = machine.run(
        {"run": {"run_id": "r1", "record_expires_at": "1700000000"}, "summary": summary_in}, name="r1"
    )
    second = machine.run(
        {"run": {"run_id": "r2", "record_expires_at": "1700000000"}, "summary": summary_in}, name="r2"
    )

    assert (first["status"], second["status"]) == ("SUCCEEDED", "SUCCEEDED"), (first, second)
    assert "Item" not in first["output"]["checkpoint"]
    item = second["output"]["checkpoint"]["Item"]
    assert item["snapshot_prefix"] == {"S": "snapshots/r1/"}
    assert item["shard_count"] == {"N": "16"}
    assert AWS_TIMESTAMP.match(item["updated_at"]["S"]), item["updated_at"]
    run_item = world.dynamodb.get_item(TableName=world.table, Key={"pk": {"S": "RUN"}, "sk": {"S": "r1"}})[
        "Item"
    ]
    assert json.loads(run_item["summary"]["S"]) == summary_in
    assert run_item["expires_at"] == {"N": "1700000000"}


def test_a_json_number_for_a_dynamodb_number_fails_as_on_aws(world: World) -> None:
    """`"N.$"` needs a string (PrepareRun sends `"1700000000"`, SaveCheckpoint formats one); AWS
    fails the Task on a JSON number, and moto must too, or a handler that starts returning numbers
    passes locally and fails in production."""
    definition = chain(
        (
            "RecordRun",
            task(
                "arn:aws:states:::dynamodb:putItem",
                Parameters={
                    "TableName": world.table,
                    "Item": {"pk": {"S": "RUN"}, "sk": {"S": "n"}, "expires_at": {"N.$": "$.expires_at"}},
                },
            ),
        )
    )
    summary = world.run(definition, {"expires_at": 1700000000})

    assert (summary["status"], summary["error"]) == ("FAILED", "DynamoDB.SerializationException")


# --------------------------------------------------------------------------------------------------
# The ASL uses nothing the tests above do not cover
# --------------------------------------------------------------------------------------------------

COVERED: dict[str, str] = {
    # top level
    "top:TimeoutSeconds": "test_execution_timeout_ends_the_run_timed_out",
    # state types and their fields
    "Task": "test_prepare_run_gets_its_input_and_the_execution_name_and_start_time",
    "Task.Resource:function": "test_prepare_run_gets_its_input_and_the_execution_name_and_start_time",
    "Task.Parameters": "test_result_path_merges_results_and_null_or_output_path_narrows_them",
    "Task.ResultPath:$": "test_prepare_run_gets_its_input_and_the_execution_name_and_start_time",
    "Task.ResultPath:path": "test_result_path_merges_results_and_null_or_output_path_narrows_them",
    "Task.ResultPath:null": "test_result_path_merges_results_and_null_or_output_path_narrows_them",
    "Task.OutputPath": "test_result_path_merges_results_and_null_or_output_path_narrows_them",
    "Task.Retry": "test_retriers_match_the_exception_class_and_each_backs_off_on_its_own_count",
    "Task.Catch": "test_exhausted_retries_are_caught_recorded_and_fail_the_run_with_the_class_name",
    "Task.TimeoutSeconds": "test_task_timeout_is_caught_as_states_timeout_and_not_retried",
    "Pass": "test_exhausted_retries_are_caught_recorded_and_fail_the_run_with_the_class_name",
    "Pass.Parameters": "test_exhausted_retries_are_caught_recorded_and_fail_the_run_with_the_class_name",
    "Pass.ResultPath:path": "test_exhausted_retries_are_caught_recorded_and_fail_the_run_with_the_class_name",
    "Pass.OutputPath": "test_result_path_merges_results_and_null_or_output_path_narrows_them",
    "Fail": "test_exhausted_retries_are_caught_recorded_and_fail_the_run_with_the_class_name",
    "Fail.ErrorPath": "test_exhausted_retries_are_caught_recorded_and_fail_the_run_with_the_class_name",
    "Fail.CausePath": "test_exhausted_retries_are_caught_recorded_and_fail_the_run_with_the_class_name",
    "Fail.Error": "test_input_rejected_fails_with_its_fixed_error_and_the_caught_cause",
    "Choice": "test_gather_sources_and_the_upload_loop_poll_until_done",
    "Choice.Default": "test_gather_sources_and_the_upload_loop_poll_until_done",
    "Choice:Variable": "test_gather_sources_and_the_upload_loop_poll_until_done",
    "Choice:StringEquals": "test_gather_sources_and_the_upload_loop_poll_until_done",
    "Choice:BooleanEquals": "test_gather_sources_and_the_upload_loop_poll_until_done",
    "Wait": "test_gather_sources_and_the_upload_loop_poll_until_done",
    "Wait.SecondsPath": "test_gather_sources_and_the_upload_loop_poll_until_done",
    "Parallel": "test_gather_sources_and_the_upload_loop_poll_until_done",
    "Parallel.ResultSelector": "test_gather_sources_and_the_upload_loop_poll_until_done",
    "Parallel.ResultPath:path": "test_gather_sources_and_the_upload_loop_poll_until_done",
    "Parallel.Catch": "test_a_failing_branch_fails_gather_sources_and_stops_the_other_branch",
    "Map": "test_transform_pages_runs_every_page_at_most_max_concurrency_at_a_time",
    "Map.ItemsPath": "test_transform_pages_runs_every_page_at_most_max_concurrency_at_a_time",
    "Map.ItemSelector": "test_transform_pages_runs_every_page_at_most_max_concurrency_at_a_time",
    "Map.MaxConcurrency": "test_transform_pages_runs_every_page_at_most_max_concurrency_at_a_time",
    "Map.ItemProcessor:INLINE": "test_transform_pages_runs_every_page_at_most_max_concurrency_at_a_time",
    "Map.ResultPath:null": "test_transform_pages_runs_every_page_at_most_max_concurrency_at_a_time",
    "Map.Catch": "test_a_failing_page_fails_the_map_and_is_caught",
    # retriers and catchers
    "Retrier.ErrorEquals": "test_retriers_match_the_exception_class_and_each_backs_off_on_its_own_count",
    "Retrier.IntervalSeconds": "test_retriers_match_the_exception_class_and_each_backs_off_on_its_own_count",
    "Retrier.BackoffRate": "test_retriers_match_the_exception_class_and_each_backs_off_on_its_own_count",
    "Retrier.MaxDelaySeconds": "test_retriers_match_the_exception_class_and_each_backs_off_on_its_own_count",
    "Retrier.MaxAttempts": "test_exhausted_retries_are_caught_recorded_and_fail_the_run_with_the_class_name",
    "Retrier.JitterStrategy:FULL": "test_full_jitter_draws_each_interval_at_random_below_its_capped_backoff",
    "Catcher.ErrorEquals": "test_exhausted_retries_are_caught_recorded_and_fail_the_run_with_the_class_name",
    "Catcher.ResultPath:path": "test_exhausted_retries_are_caught_recorded_and_fail_the_run_with_the_class_name",
    "Catcher.ResultPath:null": "test_the_lock_is_taken_refused_taken_over_and_released_only_by_its_owner",
    "Catcher.Next": "test_exhausted_retries_are_caught_recorded_and_fail_the_run_with_the_class_name",
    "error:States.ALL": "test_exhausted_retries_are_caught_recorded_and_fail_the_run_with_the_class_name",
    "error:States.Timeout": "test_task_timeout_is_caught_as_states_timeout_and_not_retried",
    "error:DynamoDB.ConditionalCheckFailedException": (
        "test_the_lock_is_taken_refused_taken_over_and_released_only_by_its_owner"
    ),
    # service integrations
    "Task.Resource:dynamodb:putItem": "test_the_lock_is_taken_refused_taken_over_and_released_only_by_its_owner",
    "Task.Resource:dynamodb:deleteItem": "test_the_lock_is_taken_refused_taken_over_and_released_only_by_its_owner",
    "Task.Resource:dynamodb:getItem": "test_checkpoint_and_run_records_round_trip_through_dynamodb",
    "dynamodb:TableName": "test_checkpoint_and_run_records_round_trip_through_dynamodb",
    "dynamodb:Item": "test_checkpoint_and_run_records_round_trip_through_dynamodb",
    "dynamodb:Key": "test_checkpoint_and_run_records_round_trip_through_dynamodb",
    "dynamodb:ConsistentRead": "test_checkpoint_and_run_records_round_trip_through_dynamodb",
    "dynamodb:ConditionExpression": "test_the_lock_is_taken_refused_taken_over_and_released_only_by_its_owner",
    "dynamodb:ExpressionAttributeNames": "test_the_lock_is_taken_refused_taken_over_and_released_only_by_its_owner",
    "dynamodb:ExpressionAttributeValues": "test_the_lock_is_taken_refused_taken_over_and_released_only_by_its_owner",
    # paths, intrinsics, context object
    "intrinsic:States.Format": "test_checkpoint_and_run_records_round_trip_through_dynamodb",
    "intrinsic:States.JsonToString": "test_checkpoint_and_run_records_round_trip_through_dynamodb",
    "context:$$.Execution.Name": "test_prepare_run_gets_its_input_and_the_execution_name_and_start_time",
    "context:$$.Execution.StartTime": "test_prepare_run_gets_its_input_and_the_execution_name_and_start_time",
    "context:$$.State.EnteredTime": "test_checkpoint_and_run_records_round_trip_through_dynamodb",
    "context:$$.Map.Item.Value": "test_transform_pages_runs_every_page_at_most_max_concurrency_at_a_time",
}

# Structure every state has; nothing for moto to get wrong beyond what the tests above exercise.
_STRUCTURAL = frozenset({"Type", "Comment", "Next", "End", "Resource", "Branches", "Choices"})


def asl_features(definition: dict[str, Any]) -> set[str]:
    """What a definition asks of the interpreter, in the vocabulary of `COVERED`.

    Error names are listed only for `States.*` and `DynamoDB.ConditionalCheckFailedException`; the
    others are the handlers' exception class names (matched like `Transient` above) or errors of
    the Lambda and DynamoDB services that moto never raises.
    """
    found: set[str] = set()
    found.update(f"top:{key}" for key in definition if key not in ("States", "StartAt", "Comment"))
    text = json.dumps(definition)
    found.update(f"intrinsic:{name}" for name in re.findall(r"(States\.\w+)\(", text))
    found.update(f"context:{path}" for path in re.findall(r"\$\$(?:\.\w+)+", text))
    for state in _states(definition["States"]):
        kind = state["Type"]
        found.add(kind)
        for key, value in state.items():
            if key in ("ResultPath", "ItemProcessor"):
                found.add(f"{kind}.{key}:{_path_kind(value) if key == 'ResultPath' else _mode(value)}")
            elif key not in _STRUCTURAL and kind != "Choice":
                found.add(f"{kind}.{key}")
        if kind == "Choice":
            found.update(f"Choice:{op}" for rule in state["Choices"] for op in rule if op != "Next")
            found.update(f"Choice.{key}" for key in state if key not in _STRUCTURAL)
        resource = state.get("Resource", "")
        if kind == "Task":
            service = resource.removeprefix("arn:aws:states:::")
            found.add(f"Task.Resource:{'function' if service == resource else service}")
            if service.startswith("dynamodb:"):
                found.update(f"dynamodb:{key}" for key in state["Parameters"])
        for retrier in state.get("Retry", []):
            for key, value in retrier.items():
                found.add(f"Retrier.{key}:{value}" if key == "JitterStrategy" else f"Retrier.{key}")
        for catcher in state.get("Catch", []):
            found.update(
                f"Catcher.{key}:{_path_kind(value)}" if key == "ResultPath" else f"Catcher.{key}"
                for key, value in catcher.items()
            )
        for rule in (*state.get("Retry", []), *state.get("Catch", [])):
            found.update(
                f"error:{name}"
                for name in rule["ErrorEquals"]
                if name.startswith("States.") or name == "DynamoDB.ConditionalCheckFailedException"
            )
    return found


def _states(states: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for state in states.values():
        yield state
        for branch in state.get("Branches", []):
            yield from _states(branch["States"])
        if "ItemProcessor" in state:
            yield from _states(state["ItemProcessor"]["States"])


def _path_kind(path: str | None) -> str:
    return "null" if path is None else "$" if path == "$" else "path"


def _mode(processor: dict[str, Any]) -> str:
    mode: str = processor.get("ProcessorConfig", {}).get("Mode", "INLINE")
    return mode


def test_every_asl_feature_is_covered() -> None:
    features = asl_features(json.loads(layout.ASL_PATH.read_text()))

    uncovered = sorted(features - COVERED.keys())
    assert not uncovered, f"the ASL uses {uncovered}: add a test here showing moto runs it as AWS does"
    tests = {name for name in globals() if name.startswith("test_")}
    assert set(COVERED.values()) <= tests


def test_the_feature_list_sees_what_a_definition_uses() -> None:
    """`asl_features` is what keeps the list honest: it must notice a new state field, operator,
    intrinsic, context path or integration."""
    definition = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:updateItem",
                "Parameters": {"TableName": "t", "UpdateExpression": "SET n = :n"},
                "HeartbeatSeconds": 5,
                "Retry": [{"ErrorEquals": ["States.TaskFailed"], "JitterStrategy": "NONE"}],
                "Next": "B",
            },
            "B": {
                "Type": "Choice",
                "Choices": [{"Variable": "$$.Execution.Input", "TimestampLessThanPath": "$.t", "Next": "C"}],
            },
            "C": {"Type": "Pass", "Parameters": {"u.$": "States.UUID()"}, "InputPath": "$.x", "End": True},
        },
    }
    features = asl_features(definition)

    assert {
        "Task.Resource:dynamodb:updateItem",
        "dynamodb:UpdateExpression",
        "Task.HeartbeatSeconds",
        "error:States.TaskFailed",
        "Retrier.JitterStrategy:NONE",
        "Choice:TimestampLessThanPath",
        "context:$$.Execution.Input",
        "intrinsic:States.UUID",
        "Pass.InputPath",
    } <= features
    assert not features <= COVERED.keys()
