"""Which Amazon States Language features moto's interpreter executes like AWS does.

Run `python -m local.aws.probe [--raw] [FILTER]` (about 20 s; `--raw` without LocalAws's
fidelity fixes) after upgrading moto and compare with the table in
README.md. Each case is a tiny state machine with the outcome AWS documents; the probe prints
`works` or what moto did instead, then the measured overheads. Not a test: a failing case here is a
fact about moto, not a bug in claimsync.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from local.aws.runtime import LocalAws, execution_summary, start_local_aws, wait_for_execution

ROLE = "arn:aws:iam::123456789012:role/claimsync-local-sfn"
LAMBDA = "arn:aws:states:::lambda:invoke"


class TransientError(Exception):
    pass


class TerminalError(Exception):
    pass


@dataclass
class Outcome:
    summary: dict[str, Any]
    sleeps: list[tuple[str, float]]
    wall_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> Any:
        return self.summary["output"]


Check = Callable[[Outcome], str | None]


@dataclass
class Case:
    feature: str
    definition: dict[str, Any]
    check: Check
    input: dict[str, Any] = field(default_factory=dict)
    deadline_s: float = 30.0
    name: str = ""


def expect_output(expected: Any) -> Check:
    def check(o: Outcome) -> str | None:
        if o.summary["status"] != "SUCCEEDED":
            return f"{o.summary['status']}: {o.summary['error']} {str(o.summary['cause'])[:200]}"
        return None if o.output == expected else f"output {o.output!r}"

    return check


def expect_failure(error: str, cause_contains: str = "") -> Check:
    def check(o: Outcome) -> str | None:
        s = o.summary
        if s["status"] != "FAILED" or s["error"] != error or cause_contains not in (s["cause"] or ""):
            return (
                f"{s['status']} error={s['error']!r} cause={str(s['cause'])[:200]!r} output={s['output']!r}"
            )
        return None

    return check


def task(fn: str, nxt: str | None = None, **extra: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": LAMBDA}
    state["Parameters"] = extra.pop("Parameters", {"FunctionName": fn, "Payload.$": "$"})
    state.update(extra)
    state.update({"Next": nxt} if nxt else {"End": True})
    return state


def machine(*states: tuple[str, dict[str, Any]], **top: Any) -> dict[str, Any]:
    return {"StartAt": states[0][0], "States": dict(states), **top}


# --------------------------------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------------------------------

_attempts: dict[str, int] = {}
_retry_counts: list[int] = []
_active = 0
_peak = 0
_gauge = threading.Lock()


def echo(event: dict[str, Any], context: Any) -> Any:
    return event


def flaky(event: dict[str, Any], context: Any) -> Any:
    """Raises TransientError `fails` times per `key`, then returns the attempt number."""
    key = event["key"]
    if "retry" in event:
        _retry_counts.append(event["retry"])
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] <= event["fails"]:
        raise TransientError(f"attempt {_attempts[key]}")
    return {"attempt": _attempts[key]}


def terminal(event: dict[str, Any], context: Any) -> Any:
    raise TerminalError("no way")


def slow(event: dict[str, Any], context: Any) -> Any:
    """Sleeps `sleep_s`, tracking how many invocations overlap."""
    global _active, _peak
    with _gauge:
        _active += 1
        _peak = max(_peak, _active)
    time.sleep(event.get("sleep_s", 0.2))
    with _gauge:
        _active -= 1
    return {"item": event.get("item")}


def make_token_handler(aws: LocalAws) -> Callable[[dict[str, Any], Any], Any]:
    def send_success(event: dict[str, Any], context: Any) -> Any:
        aws.client("stepfunctions").send_task_success(
            taskToken=event["token"], output=json.dumps({"called_back": True})
        )
        return {}

    return send_success


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------


def cases(arn: dict[str, str]) -> list[Case]:
    now = dt.datetime.now(dt.UTC)
    future = (now + dt.timedelta(seconds=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    past = (now - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def sleeps_are(kind: str, expected: list[float]) -> Check:
        def check(o: Outcome) -> str | None:
            got = [round(s, 1) for k, s in o.sleeps if k == kind]
            if o.summary["status"] != "SUCCEEDED":
                return f"{o.summary['status']} {o.summary['error']}"
            return None if got == expected else f"requested {kind} sleeps {got}"

        return check

    def jitter_check(o: Outcome) -> str | None:
        got = [s for k, s in o.sleeps if k == "retry"]
        if o.summary["status"] != "SUCCEEDED" or len(got) != 3:
            return f"{o.summary['status']} sleeps {got}"
        within = all(0 <= s <= cap for s, cap in zip(got, [10, 20, 40], strict=True))
        return None if within and got != [10, 20, 40] else f"requested retry sleeps {got}"

    def keys_of_lambda_result(o: Outcome) -> str | None:
        if o.summary["status"] != "SUCCEEDED":
            return f"{o.summary['status']} {o.summary['error']}"
        keys = sorted(o.output)
        aws_keys = ["ExecutedVersion", "Payload", "SdkHttpMetadata", "SdkResponseMetadata", "StatusCode"]
        return None if keys == aws_keys else f"result keys {keys} (AWS: {aws_keys})"

    def catch_check(o: Outcome) -> str | None:
        out = o.output or {}
        err = out.get("error", {})
        if o.summary["status"] != "SUCCEEDED" or out.get("keep") != 1 or err.get("Error") != "TerminalError":
            return f"{o.summary['status']} output={out!r}"
        cause = json.loads(err["Cause"])
        if cause.get("errorType") != "TerminalError" or cause.get("errorMessage") != "no way":
            return f"cause {err['Cause'][:200]}"
        return None

    def context_check(o: Outcome) -> str | None:
        out = o.output
        if o.summary["status"] != "SUCCEEDED":
            return f"{o.summary['status']} {o.summary['error']} {o.summary['cause']}"
        problems = []
        if out["id"] != o.summary["execution_arn"]:
            problems.append(f"Execution.Id={out['id']}")
        if out["name"] != o.summary["name"]:
            problems.append(f"Execution.Name={out['name']}")
        for key in ("start", "entered"):
            try:
                dt.datetime.fromisoformat(out[key].replace("Z", "+00:00"))
            except (ValueError, AttributeError):
                problems.append(f"{key}={out[key]!r}")
        if out["input"] != {"v": 1}:
            problems.append(f"Execution.Input={out['input']!r}")
        if not str(out["sm"]).endswith(":stateMachine:probe-context"):
            problems.append(f"StateMachine.Id={out['sm']}")
        return "; ".join(problems) or None

    def uuid_check(o: Outcome) -> str | None:
        v = (o.output or {}).get("v", "")
        return None if isinstance(v, str) and len(v) == 36 and v.count("-") == 4 else f"{o.summary}"

    def concurrency_check(o: Outcome) -> str | None:
        if o.summary["status"] != "SUCCEEDED" or len(o.output) != 12:
            return f"{o.summary['status']} {o.summary['error']}"
        peak = o.extra["peak"]
        return (
            None
            if peak == 4
            else f"peak concurrent iterations {peak} (MaxConcurrency 4), wall {o.wall_s:.2f}s"
        )

    def dynamo_check(o: Outcome) -> str | None:
        out = o.output or {}
        if o.summary["status"] != "SUCCEEDED":
            return f"{o.summary['status']} {o.summary['error']} {str(o.summary['cause'])[:300]}"
        expected_got = {"pk": {"S": "lock"}, "owner": {"S": "run-1"}, "n": {"N": "2"}}
        problems = []
        if out.get("got", {}).get("Item") != expected_got:
            problems.append(f"getItem after update {out.get('got')}")
        if out.get("conflict", {}).get("Error") != "DynamoDB.ConditionalCheckFailedException":
            problems.append(f"conflict {out.get('conflict')}")
        if "gone" not in out:
            problems.append("deleteItem did not run")
        return "; ".join(problems) or None

    def timeout_check(error_seen: str) -> Check:
        def check(o: Outcome) -> str | None:
            out = o.output or {}
            ok = o.summary["status"] == "SUCCEEDED" and out.get("err", {}).get("Error") == error_seen
            return None if ok else f"{o.summary['status']} {o.summary['error']} output={out}"

        return check

    def timed_out_execution(o: Outcome) -> str | None:
        s = o.summary
        return None if s["status"] == "TIMED_OUT" else f"{s['status']} {s['error']} wall {o.wall_s:.1f}s"

    def map_error_check(o: Outcome) -> str | None:
        out = o.output or {}
        ok = o.summary["status"] == "SUCCEEDED" and out.get("Error") == "TerminalError"
        return None if ok else f"{o.summary['status']} {o.summary['error']} output={out}"

    choice_ok = {"Type": "Succeed"}
    wrong = {"Type": "Fail", "Error": "WrongBranch"}

    def choice(rule: dict[str, Any], input_: dict[str, Any] | None = None, feature: str = "") -> Case:
        return Case(
            feature,
            machine(
                ("C", {"Type": "Choice", "Choices": [{**rule, "Next": "Ok"}], "Default": "Wrong"}),
                ("Ok", choice_ok),
                ("Wrong", wrong),
            ),
            expect_output(input_ or {}),
            input=input_ or {},
        )

    def intrinsic(expr: str, expected: Any, input_: dict[str, Any] | None = None) -> Case:
        return Case(
            f"Pass Parameters intrinsic {expr.split('(')[0]}",
            machine(("P", {"Type": "Pass", "Parameters": {"v.$": expr}, "End": True})),
            expect_output({"v": expected}) if expected is not None else uuid_check,
            input=input_ or {},
        )

    data = {"n": 7, "s": "x", "flag": True, "past": past, "a": {"b": 1}}
    return [
        Case(
            "lambda:invoke Payload + ResultSelector + ResultPath + OutputPath",
            machine(
                (
                    "T",
                    task(
                        "",
                        Parameters={"FunctionName": arn["echo"], "Payload": {"a": 1, "b.$": "$.b"}},
                        ResultSelector={"x.$": "$.Payload.b", "a.$": "$.Payload.a"},
                        ResultPath="$.r",
                        OutputPath="$.r",
                    ),
                )
            ),
            expect_output({"x": 7, "a": 1}),
            input={"b": 7},
        ),
        Case(
            "lambda:invoke raw result fields",
            machine(("T", task(arn["echo"]))),
            keys_of_lambda_result,
            input={"b": 7},
        ),
        Case(
            "plain function ARN Task (+ InputPath, ResultPath)",
            machine(
                (
                    "T",
                    {
                        "Type": "Task",
                        "Resource": arn["echo"],
                        "InputPath": "$.in",
                        "ResultPath": "$.out",
                        "End": True,
                    },
                )
            ),
            expect_output({"in": {"q": 1}, "out": {"q": 1}}),
            input={"in": {"q": 1}},
        ),
        Case(
            "ResultPath null keeps the input",
            machine(("T", task(arn["echo"], ResultPath=None))),
            expect_output({"k": 1}),
            input={"k": 1},
        ),
        Case(
            "Retry custom error name, IntervalSeconds, BackoffRate, MaxDelaySeconds",
            machine(
                (
                    "T",
                    task(
                        arn["flaky"],
                        Retry=[
                            {
                                "ErrorEquals": ["TransientError"],
                                "IntervalSeconds": 2,
                                "BackoffRate": 3,
                                "MaxDelaySeconds": 5,
                                "MaxAttempts": 4,
                            }
                        ],
                    ),
                )
            ),
            sleeps_are("retry", [2.0, 5.0, 5.0]),
            input={"key": "backoff", "fails": 3},
        ),
        Case(
            "Retry JitterStrategy FULL",
            machine(
                (
                    "T",
                    task(
                        arn["flaky"],
                        Retry=[
                            {
                                "ErrorEquals": ["TransientError"],
                                "IntervalSeconds": 10,
                                "MaxAttempts": 3,
                                "JitterStrategy": "FULL",
                            }
                        ],
                    ),
                )
            ),
            jitter_check,
            input={"key": "jitter", "fails": 3 - 0},
        ),
        Case(
            "Retry MaxAttempts exhausted -> execution fails with the exception class name",
            machine(("T", task(arn["flaky"], Retry=[{"ErrorEquals": ["TransientError"], "MaxAttempts": 2}]))),
            expect_failure("TransientError", "attempt 3"),
            input={"key": "exhaust", "fails": 9},
        ),
        Case(
            "Retry States.TaskFailed matches a handler exception",
            machine(
                ("T", task(arn["flaky"], Retry=[{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 1}]))
            ),
            lambda o: None if o.summary["status"] == "SUCCEEDED" else f"{o.summary}",
            input={"key": "taskfailed", "fails": 1},
        ),
        Case(
            "Retry States.ALL matches a handler exception",
            machine(("T", task(arn["flaky"], Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}]))),
            lambda o: None if o.summary["status"] == "SUCCEEDED" else f"{o.summary}",
            input={"key": "all", "fails": 1},
        ),
        Case(
            "Catch custom error with ResultPath (Cause = errorType/errorMessage/stackTrace JSON)",
            machine(
                (
                    "T",
                    task(
                        arn["terminal"],
                        Catch=[{"ErrorEquals": ["TerminalError"], "ResultPath": "$.error", "Next": "Rec"}],
                        nxt="Never",
                    ),
                ),
                ("Never", {"Type": "Fail", "Error": "NotCaught"}),
                ("Rec", {"Type": "Pass", "End": True}),
            ),
            catch_check,
            input={"keep": 1},
        ),
        choice({"Variable": "$.a.b", "IsPresent": True}, data, "Choice IsPresent"),
        choice({"Variable": "$.n", "NumericGreaterThan": 5}, data, "Choice NumericGreaterThan"),
        choice({"Variable": "$.n", "NumericGreaterThanPath": "$.a.b"}, data, "Choice NumericGreaterThanPath"),
        choice({"Variable": "$.s", "StringEquals": "x"}, data, "Choice StringEquals"),
        choice({"Variable": "$.s", "StringMatches": "x*"}, data, "Choice StringMatches"),
        choice({"Variable": "$.flag", "BooleanEquals": True}, data, "Choice BooleanEquals"),
        choice(
            {
                "And": [
                    {
                        "Or": [
                            {"Variable": "$.n", "NumericEquals": 1},
                            {"Variable": "$.s", "StringEquals": "x"},
                        ]
                    },
                    {"Not": {"Variable": "$.flag", "BooleanEquals": False}},
                ]
            },
            data,
            "Choice And/Or/Not",
        ),
        choice(
            {"Variable": "$.past", "TimestampLessThanPath": "$$.Execution.StartTime"},
            data,
            "Choice TimestampLessThanPath $$.Execution.StartTime",
        ),
        choice(
            {"Variable": "$$.State.EnteredTime", "TimestampGreaterThan": "2020-01-01T00:00:00Z"},
            data,
            "Choice Variable $$.State.EnteredTime TimestampGreaterThan literal",
        ),
        choice(
            {"Variable": "$.missing", "IsPresent": False},
            data,
            "Choice IsPresent false on a missing path",
        ),
        Case(
            "Choice TimestampLessThanPath on a Pass-computed value",
            machine(
                (
                    "P",
                    {
                        "Type": "Pass",
                        "Parameters": {"t.$": "$$.Execution.StartTime", "past": past},
                        "Next": "C",
                    },
                ),
                (
                    "C",
                    {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.past", "TimestampLessThanPath": "$.t", "Next": "Ok"}],
                        "Default": "Wrong",
                    },
                ),
                ("Ok", {"Type": "Pass", "Result": "ok", "End": True}),
                ("Wrong", wrong),
            ),
            expect_output("ok"),
        ),
        Case(
            "Wait Seconds (scaled)",
            machine(("W", {"Type": "Wait", "Seconds": 30, "End": True})),
            sleeps_are("wait", [30.0]),
        ),
        Case(
            "Wait SecondsPath (scaled)",
            machine(("W", {"Type": "Wait", "SecondsPath": "$.s", "End": True})),
            sleeps_are("wait", [45.0]),
            input={"s": 45},
        ),
        Case(
            "Wait TimestampPath 40 s ahead (scaled)",
            machine(("W", {"Type": "Wait", "TimestampPath": "$.t", "End": True})),
            lambda o: (
                None
                if o.summary["status"] == "SUCCEEDED"
                and 25 <= next(s for k, s in o.sleeps if k == "wait") <= 40
                else f"{o.summary['status']} requested {o.sleeps}"
            ),
            input={"t": future},
        ),
        choice(
            {"Variable": "$.early", "TimestampLessThanPath": "$.late"},
            {"early": "2026-01-01T00:00:00Z", "late": "2026-01-01T00:00:01Z"},
            "Choice TimestampLessThanPath, whole-second Z timestamps from the input",
        ),
        choice(
            {"Variable": "$.early", "TimestampLessThan": "2026-01-01T00:00:01Z"},
            {"early": "2026-01-01T00:00:00.250Z"},
            "Choice TimestampLessThan, fractional-second timestamp",
        ),
        choice(
            {"Variable": "$.early", "TimestampLessThan": "2026-01-01T00:00:01Z"},
            {"early": "2026-01-01T00:00:00+00:00"},
            "Choice TimestampLessThan, +00:00 offset timestamp",
        ),
        Case(
            "Context $$.State.RetryCount passed to a retried Task",
            machine(
                (
                    "T",
                    task(
                        "",
                        Parameters={
                            "FunctionName": arn["flaky"],
                            "Payload": {"key": "retrycount", "fails": 2, "retry.$": "$$.State.RetryCount"},
                        },
                        Retry=[{"ErrorEquals": ["TransientError"], "MaxAttempts": 2}],
                        OutputPath="$.Payload",
                    ),
                )
            ),
            lambda o: (
                None
                if o.summary["status"] == "SUCCEEDED" and o.extra["retry_counts"] == [0, 1, 2]
                else f"{o.summary['status']} {o.summary['error']} counts seen {o.extra['retry_counts']}"
            ),
        ),
        intrinsic("States.Format('{}-{}', $.a, $.b)", "x-2", {"a": "x", "b": 2}),
        intrinsic("States.StringToJson($.s)", {"k": [1, 2]}, {"s": '{"k":[1,2]}'}),
        intrinsic("States.JsonToString($.o)", '{"k":[1,2]}', {"o": {"k": [1, 2]}}),
        intrinsic("States.ArrayLength($.a)", 3, {"a": [1, 2, 3]}),
        intrinsic("States.MathAdd($.n, -3)", 4, {"n": 7}),
        intrinsic("States.UUID()", None),
        intrinsic("States.Array($.a, 'b', 3)", ["x", "b", 3], {"a": "x"}),
        intrinsic("States.JsonMerge($.a, $.b, false)", {"k": 1, "j": 2}, {"a": {"k": 1}, "b": {"j": 2}}),
        intrinsic("States.ArrayPartition($.a, 2)", [[1, 2], [3]], {"a": [1, 2, 3]}),
        intrinsic("States.ArrayRange(0, 4, 2)", [0, 2, 4]),
        intrinsic(
            "States.Hash($.s, 'SHA-256')",
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            {"s": "hello"},
        ),
        intrinsic("States.Base64Encode($.s)", "aGVsbG8=", {"s": "hello"}),
        Case(
            "Context object $$.Execution.Id/Name/StartTime/Input, $$.State.EnteredTime, $$.StateMachine.Id",
            machine(
                (
                    "P",
                    {
                        "Type": "Pass",
                        "Parameters": {
                            "id.$": "$$.Execution.Id",
                            "name.$": "$$.Execution.Name",
                            "start.$": "$$.Execution.StartTime",
                            "input.$": "$$.Execution.Input",
                            "entered.$": "$$.State.EnteredTime",
                            "sm.$": "$$.StateMachine.Id",
                        },
                        "End": True,
                    },
                )
            ),
            context_check,
            input={"v": 1},
            name="probe-context",
        ),
        Case(
            "Map ItemsPath + ItemSelector with $$.Map.Item.Value/Index",
            machine(
                (
                    "M",
                    {
                        "Type": "Map",
                        "ItemsPath": "$.items",
                        "ItemSelector": {
                            "v.$": "$$.Map.Item.Value",
                            "i.$": "$$.Map.Item.Index",
                            "run.$": "$.run",
                        },
                        "ItemProcessor": {
                            "ProcessorConfig": {"Mode": "INLINE"},
                            "StartAt": "P",
                            "States": {"P": {"Type": "Pass", "End": True}},
                        },
                        "End": True,
                    },
                )
            ),
            expect_output([{"v": "a", "i": 0, "run": 9}, {"v": "b", "i": 1, "run": 9}]),
            input={"items": ["a", "b"], "run": 9},
        ),
        Case(
            "Map legacy Iterator + Parameters",
            machine(
                (
                    "M",
                    {
                        "Type": "Map",
                        "ItemsPath": "$.items",
                        "Parameters": {"v.$": "$$.Map.Item.Value"},
                        "Iterator": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                        "End": True,
                    },
                )
            ),
            expect_output([{"v": 1}, {"v": 2}]),
            input={"items": [1, 2]},
        ),
        Case(
            "Map MaxConcurrency 4 with a Lambda body runs 4 iterations at a time",
            machine(
                (
                    "M",
                    {
                        "Type": "Map",
                        "ItemsPath": "$.items",
                        "MaxConcurrency": 4,
                        "ItemSelector": {"item.$": "$$.Map.Item.Value", "sleep_s": 0.3},
                        "ItemProcessor": {
                            "StartAt": "T",
                            "States": {"T": task(arn["slow"], OutputPath="$.Payload")},
                        },
                        "End": True,
                    },
                )
            ),
            concurrency_check,
            input={"items": list(range(12))},
        ),
        Case(
            "Map iteration failure -> Map fails with the iteration's error, caught at Map level",
            machine(
                (
                    "M",
                    {
                        "Type": "Map",
                        "ItemsPath": "$.items",
                        "ItemProcessor": {"StartAt": "T", "States": {"T": task(arn["terminal"])}},
                        "Catch": [{"ErrorEquals": ["TerminalError"], "Next": "Rec"}],
                        "End": True,
                    },
                ),
                ("Rec", {"Type": "Pass", "End": True}),
            ),
            map_error_check,
            input={"items": [1, 2]},
        ),
        Case(
            "Parallel (two branches, output array)",
            machine(
                (
                    "Par",
                    {
                        "Type": "Parallel",
                        "Branches": [
                            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": True}}},
                            {"StartAt": "B", "States": {"B": task(arn["echo"], OutputPath="$.Payload")}},
                        ],
                        "End": True,
                    },
                )
            ),
            expect_output(["a", {"z": 1}]),
            input={"z": 1},
        ),
        Case(
            "DynamoDB putItem/updateItem/getItem/deleteItem + ConditionExpression failure caught",
            machine(
                (
                    "Put",
                    {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::dynamodb:putItem",
                        "Parameters": {
                            "TableName": "probe",
                            "Item": {"pk": {"S": "lock"}, "owner": {"S": "run-1"}, "n": {"N": "1"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        },
                        "ResultPath": None,
                        "Next": "Update",
                    },
                ),
                (
                    "Update",
                    {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::dynamodb:updateItem",
                        "Parameters": {
                            "TableName": "probe",
                            "Key": {"pk": {"S": "lock"}},
                            "UpdateExpression": "SET n = n + :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        },
                        "ResultPath": None,
                        "Next": "Get",
                    },
                ),
                (
                    "Get",
                    {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::dynamodb:getItem",
                        "Parameters": {"TableName": "probe", "Key": {"pk": {"S": "lock"}}},
                        "ResultPath": "$.got",
                        "Next": "PutAgain",
                    },
                ),
                (
                    "PutAgain",
                    {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::dynamodb:putItem",
                        "Parameters": {
                            "TableName": "probe",
                            "Item": {"pk": {"S": "lock"}, "owner": {"S": "run-2"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        },
                        "Catch": [
                            {
                                "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                                "ResultPath": "$.conflict",
                                "Next": "Delete",
                            }
                        ],
                        "Next": "Wrong",
                    },
                ),
                (
                    "Delete",
                    {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::dynamodb:deleteItem",
                        "Parameters": {
                            "TableName": "probe",
                            "Key": {"pk": {"S": "lock"}},
                            "ConditionExpression": "#o = :me",
                            "ExpressionAttributeNames": {"#o": "owner"},
                            "ExpressionAttributeValues": {":me": {"S": "run-1"}},
                        },
                        "ResultPath": "$.gone",
                        "End": True,
                    },
                ),
                ("Wrong", wrong),
            ),
            dynamo_check,
        ),
        Case(
            "Fail Error/Cause",
            machine(("F", {"Type": "Fail", "Error": "RunFailed", "Cause": "because"})),
            expect_failure("RunFailed", "because"),
        ),
        Case(
            "Fail ErrorPath/CausePath",
            machine(("F", {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "$.c"})),
            expect_failure("Dyn", "dyn cause"),
            input={"e": "Dyn", "c": "dyn cause"},
        ),
        Case(
            "Task TimeoutSeconds -> States.Timeout caught",
            machine(
                (
                    "T",
                    task(
                        arn["slow"],
                        TimeoutSeconds=1,
                        Catch=[{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.err", "Next": "Rec"}],
                    ),
                ),
                ("Rec", {"Type": "Pass", "End": True}),
            ),
            timeout_check("States.Timeout"),
            input={"sleep_s": 2.5},
        ),
        Case(
            "States.TaskFailed does not catch States.Timeout (States.ALL does)",
            machine(
                (
                    "T",
                    task(
                        arn["slow"],
                        TimeoutSeconds=1,
                        Catch=[
                            {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.err", "Next": "Wrong"},
                            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Rec"},
                        ],
                    ),
                ),
                ("Rec", {"Type": "Pass", "End": True}),
                ("Wrong", wrong),
            ),
            timeout_check("States.Timeout"),
            input={"sleep_s": 2.5},
        ),
        Case(
            "HeartbeatSeconds on lambda:invoke (accepted, no effect)",
            machine(("T", task(arn["echo"], TimeoutSeconds=10, HeartbeatSeconds=5, OutputPath="$.Payload"))),
            expect_output({"h": 1}),
            input={"h": 1},
        ),
        Case(
            "lambda:invoke.waitForTaskToken resumed by send_task_success from the handler",
            machine(
                (
                    "T",
                    {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                        "Parameters": {"FunctionName": arn["token"], "Payload": {"token.$": "$$.Task.Token"}},
                        "TimeoutSeconds": 20,
                        "End": True,
                    },
                )
            ),
            expect_output({"called_back": True}),
        ),
        Case(
            "waitForTaskToken HeartbeatSeconds expiry caught as States.HeartbeatTimeout",
            machine(
                (
                    "T",
                    {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                        "Parameters": {"FunctionName": arn["echo"], "Payload": {"token.$": "$$.Task.Token"}},
                        "TimeoutSeconds": 10,
                        "HeartbeatSeconds": 1,
                        "Catch": [
                            {"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.err", "Next": "Rec"}
                        ],
                        "End": True,
                    },
                ),
                ("Rec", {"Type": "Pass", "End": True}),
            ),
            timeout_check("States.HeartbeatTimeout"),
        ),
        Case(
            "Top-level TimeoutSeconds -> execution TIMED_OUT",
            machine(("T", task(arn["slow"])), TimeoutSeconds=1),
            timed_out_execution,
            input={"sleep_s": 2.5},
        ),
        Case(
            "JSONPath Assign + $variables",
            machine(
                ("A", {"Type": "Pass", "Assign": {"x.$": "$.v"}, "Next": "B"}),
                ("B", {"Type": "Pass", "Parameters": {"got.$": "$x"}, "End": True}),
            ),
            expect_output({"got": 5}),
            input={"v": 5},
        ),
        Case(
            "QueryLanguage JSONata",
            machine(
                ("P", {"Type": "Pass", "Output": "{% $states.input.v + 1 %}", "End": True}),
                QueryLanguage="JSONata",
            ),
            expect_output(6),
            input={"v": 5},
        ),
        Case(
            "aws-sdk:secretsmanager:getSecretValue",
            machine(
                (
                    "S",
                    {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::aws-sdk:secretsmanager:getSecretValue",
                        "Parameters": {"SecretId": "probe-secret"},
                        "ResultSelector": {"v.$": "$.SecretString"},
                        "End": True,
                    },
                )
            ),
            expect_output({"v": "s3cret"}),
        ),
    ]


# --------------------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------------------


def run_case(aws: LocalAws, case: Case, index: int) -> Outcome:
    sfn = aws.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=case.name or f"probe-{index}",
        definition=json.dumps(case.definition),
        roleArn=ROLE,
    )["stateMachineArn"]
    before = len(aws.sleeps())
    started = time.monotonic()
    execution = sfn.start_execution(stateMachineArn=arn, name="run", input=json.dumps(case.input))[
        "executionArn"
    ]
    try:
        wait_for_execution(sfn, execution, deadline_s=case.deadline_s)
        summary = execution_summary(sfn, execution)
    except TimeoutError:
        summary = execution_summary(sfn, execution)
    except ClientError as exc:  # moto can fail to describe an execution (see README)
        summary = {
            "status": f"DescribeExecution error {exc}"[:120],
            "error": None,
            "cause": None,
            "output": None,
        }
    wall = time.monotonic() - started
    extra = {"peak": _peak, "retry_counts": list(_retry_counts)}
    sleeps = [(s.kind, s.requested_s) for s in aws.sleeps()[before:]]
    return Outcome(summary, sleeps, wall, extra)


def timings(aws: LocalAws, arn: dict[str, str]) -> dict[str, float]:
    sfn = aws.client("stepfunctions")

    def run(definition: dict[str, Any], input_: dict[str, Any], name: str) -> float:
        sm = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
            "stateMachineArn"
        ]
        t0 = time.monotonic()
        ex = sfn.start_execution(stateMachineArn=sm, name="t", input=json.dumps(input_))["executionArn"]
        described = wait_for_execution(sfn, ex, deadline_s=120, poll_interval_s=0.01)
        assert described["status"] == "SUCCEEDED", described
        return time.monotonic() - t0

    n = 50
    chain = [
        (f"T{i}", task(arn["echo"], f"T{i + 1}" if i < n - 1 else None, OutputPath="$.Payload"))
        for i in range(n)
    ]
    passes = [
        (f"P{i}", {"Type": "Pass", **({"Next": f"P{i + 1}"} if i < n - 1 else {"End": True})})
        for i in range(n)
    ]
    t_tasks = run(machine(*chain), {}, "time-tasks")
    t_pass = run(machine(*passes), {}, "time-pass")

    def map_def(body: dict[str, Any]) -> dict[str, Any]:
        return machine(
            (
                "M",
                {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 10,
                    "ItemProcessor": {"StartAt": "B", "States": {"B": body}},
                    "End": True,
                },
            )
        )

    items = {"items": list(range(200))}
    t_map_lambda = run(map_def(task(arn["echo"], OutputPath="$.Payload")), items, "time-map-lambda")
    t_map_pass = run(map_def({"Type": "Pass", "End": True}), items, "time-map-pass")
    t0 = time.monotonic()
    for i in range(20):
        sfn.create_state_machine(name=f"create-{i}", definition=json.dumps(machine(*chain)), roleArn=ROLE)
    t_create = (time.monotonic() - t0) / 20
    t0 = time.monotonic()
    lam = aws.client("lambda")
    for _ in range(50):
        lam.invoke(FunctionName="echo", Payload=b"{}")
    t_direct = (time.monotonic() - t0) / 50
    return {
        "lambda task (sequential chain of 50), ms/task": 1000 * t_tasks / n,
        "pass state (chain of 50), ms/state": 1000 * t_pass / n,
        "map 200 items, Lambda body, MaxConcurrency 10, ms/item": 1000 * t_map_lambda / 200,
        "map 200 items, Pass body, ms/item": 1000 * t_map_pass / 200,
        "create_state_machine (50 states, after the first), ms": 1000 * t_create,
        "direct boto3 lambda.invoke round trip, ms": 1000 * t_direct,
    }


def main() -> int:
    t0 = time.monotonic()
    args = [a for a in sys.argv[1:] if a != "--raw"]
    aws = start_local_aws(fidelity_fixes="--raw" not in sys.argv)
    print(f"start_local_aws: {1000 * (time.monotonic() - t0):.0f} ms")
    try:
        arn = {
            "echo": aws.register_function("echo", echo),
            "flaky": aws.register_function("flaky", flaky),
            "terminal": aws.register_function("terminal", terminal),
            "slow": aws.register_function("slow", slow),
            "token": aws.register_function("token", make_token_handler(aws)),
        }
        aws.client("dynamodb").create_table(
            TableName="probe",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        aws.client("secretsmanager").create_secret(Name="probe-secret", SecretString="s3cret")
        t0 = time.monotonic()
        aws.client("stepfunctions").create_state_machine(
            name="first", definition=json.dumps(machine(("P", {"Type": "Pass", "End": True}))), roleArn=ROLE
        )
        print(f"first create_state_machine (loads the ASL parser): {1000 * (time.monotonic() - t0):.0f} ms")
        only = args[0] if args else ""
        for index, case in enumerate(cases(arn)):
            if only not in case.feature:
                continue
            global _peak
            _peak = 0
            outcome = run_case(aws, case, index)
            problem = case.check(outcome)
            verdict = "works" if problem is None else f"DIFFERS: {problem}"
            print(f"- {case.feature}: {verdict}  [{outcome.wall_s:.2f}s]", flush=True)
        if not only:
            for name, value in timings(aws, arn).items():
                print(f"{name}: {value:.1f}")
    finally:
        aws.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
