"""Lambda's limits in the local world: each function runs in worker processes (execution environments)
under its memory size and timeout, and every invocation reports what it really used.

The handlers live in ``limits_handlers.py`` and are registered by dotted path, as the claim sync's
are, so they run in the pool (``local/aws/pool.py``), not in this process.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.aws import (
    LAMBDA_LOGGER,
    LocalAws,
    Report,
    execution_summary,
    start_local_aws,
    wait_for_execution,
)

pytestmark = pytest.mark.workflow

ROLE = "arn:aws:iam::123456789012:role/claimsync-test-sfn"
HANDLERS = "tests.workflow.limits_handlers"
REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 60.0
REQUEST_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    """This module's local AWS, with two workers per function whatever the machine's cores."""
    aws = start_local_aws(pool_size=2)
    try:
        yield aws
    finally:
        aws.stop()


def register(aws: LocalAws, handler: str, **config: Any) -> str:
    """A uniquely named function running `limits_handlers.<handler>` in the worker pool."""
    return aws.register_function(f"{handler}-{uuid.uuid4().hex[:8]}", f"{HANDLERS}.{handler}", **config)


def name_of(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def invoke(aws: LocalAws, arn: str, payload: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    answer = aws.client("lambda").invoke(FunctionName=arn, Payload=json.dumps(payload).encode())
    return json.loads(answer["Payload"].read()), "FunctionError" in answer


def last_report(aws: LocalAws, arn: str) -> Report:
    return [r for r in aws.reports() if r.function_name == name_of(arn)][-1]


def run(aws: LocalAws, definition: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    sfn = aws.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"t-{uuid.uuid4().hex[:12]}", definition=json.dumps(definition), roleArn=ROLE
    )
    execution = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], name="run", input=json.dumps(payload)
    )
    wait_for_execution(sfn, execution["executionArn"], deadline_s=DEADLINE_S)
    return execution_summary(sfn, execution["executionArn"])


def task(arn: str, **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": arn, "Payload.$": "$"},
        "OutputPath": "$.Payload",
        **fields,
    }


def caught(arn: str) -> dict[str, Any]:
    """Call the function; on any error, end with the error and its parsed cause as the output."""
    return {
        "StartAt": "Call",
        "States": {
            "Call": task(
                arn,
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Failed"}],
                End=True,
            ),
            "Failed": {
                "Type": "Pass",
                "Parameters": {
                    "error.$": "$.failure.Error",
                    "cause.$": "States.StringToJson($.failure.Cause)",
                },
                "End": True,
            },
        },
    }


def wait_for_exit(pids: list[int], deadline_s: float) -> list[int]:
    """The pids still running after `deadline_s` (waits on pidfds: no polling, no sleeping)."""
    fds = {}
    for pid in pids:
        try:
            fds[os.pidfd_open(pid)] = pid
        except ProcessLookupError:
            continue  # already gone
    give_up = time.monotonic() + deadline_s
    try:
        while fds and (remaining := give_up - time.monotonic()) > 0:
            ready, _, _ = select.select(list(fds), [], [], remaining)
            for fd in ready:
                os.close(fd)
                fds.pop(fd)
        return sorted(fds.values())
    finally:
        for fd in fds:
            os.close(fd)


# ---- memory -----------------------------------------------------------------------------------------------


def test_a_handler_growing_past_its_memory_size_fails_the_task_with_runtime_out_of_memory(
    local_aws: LocalAws,
) -> None:
    arn = register(local_aws, "grow", memory_mb=128, timeout_s=30)
    warm, failed = invoke(local_aws, arn, {"mb": 16, "step_mb": 8})
    assert not failed and warm["held_mb"] == 16

    summary = run(local_aws, caught(arn), {"mb": 512, "step_mb": 8})

    assert summary["status"] == "SUCCEEDED", summary
    assert summary["states_entered"] == ["Call", "Failed"]
    assert summary["output"]["error"] == "Runtime.OutOfMemory"
    cause = summary["output"]["cause"]
    assert cause["errorType"] == "Runtime.OutOfMemory"
    assert re.fullmatch(
        rf"RequestId: {REQUEST_ID} Error: Runtime exited with error: signal: killed", cause["errorMessage"]
    )
    report = last_report(local_aws, arn)
    assert (report.status, report.error_type) == ("error", "Runtime.OutOfMemory")
    assert cause["errorMessage"].split()[1] == report.request_id
    assert report.max_memory_used_mb is not None and report.max_memory_used_mb > 128
    assert "Status: error Error Type: Runtime.OutOfMemory" in report.line()
    # The execution environment is gone; the next invocation is a cold start in a new one.
    assert wait_for_exit([warm["pid"]], deadline_s=5) == []
    again, failed = invoke(local_aws, arn, {"mb": 8, "step_mb": 8})
    assert not failed and again["pid"] != warm["pid"]
    assert last_report(local_aws, arn).init_duration_ms is not None


def test_a_single_allocation_past_the_memory_size_fails_a_direct_invoke(local_aws: LocalAws) -> None:
    arn = register(local_aws, "allocate", memory_mb=128, timeout_s=30)

    payload, failed = invoke(local_aws, arn, {"mb": 1024})

    assert failed
    assert payload["errorType"] == "Runtime.OutOfMemory"
    assert payload["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    # Killed on the way: the 1 GiB was never all there.
    assert 128 < last_report(local_aws, arn).max_memory_used_mb < 1024  # type: ignore[operator]


# ---- time ---------------------------------------------------------------------------------------------------


def test_a_handler_sleeping_past_its_timeout_fails_with_sandbox_timedout(local_aws: LocalAws) -> None:
    arn = register(local_aws, "nap", memory_mb=128, timeout_s=1)
    warm, failed = invoke(local_aws, arn, {"s": 0})
    assert not failed

    started = time.monotonic()
    summary = run(local_aws, caught(arn), {"s": 30})
    elapsed = time.monotonic() - started

    assert summary["output"]["error"] == "Sandbox.Timedout", summary
    message = summary["output"]["cause"]["errorMessage"]
    assert re.fullmatch(rf"RequestId: {REQUEST_ID} Error: Task timed out after 1\.00 seconds", message)
    report = last_report(local_aws, arn)
    assert report.status == "timeout" and report.error_type is None
    assert 1000 <= report.duration_ms < 1000 + 1000  # real seconds: Lambda timeouts are not scaled
    assert report.line().endswith("Status: timeout")
    assert elapsed < 15  # the 30 s handler was stopped, not waited for
    assert wait_for_exit([warm["pid"]], deadline_s=5) == []


# ---- the report line ----------------------------------------------------------------------------------------


def test_a_warmed_function_runs_its_first_invocation_warm_in_the_environment_started_ahead(
    local_aws: LocalAws,
) -> None:
    arn = register(local_aws, "allocate", memory_mb=256, timeout_s=30)
    assert local_aws.workers()[name_of(arn)] == []

    warming = local_aws.warm()
    warming.join(DEADLINE_S)
    assert not warming.is_alive()
    [pid] = local_aws.workers()[name_of(arn)]
    answer, failed = invoke(local_aws, arn, {"mb": 0})

    assert not failed and answer["pid"] == pid
    report = last_report(local_aws, arn)
    assert report.init_duration_ms is None  # its init ran before any invocation (provisioned concurrency)
    assert report.billed_duration_ms == math.ceil(report.duration_ms)
    assert local_aws.workers()[name_of(arn)] == [pid]
    # Warming again starts nothing: the function has its environment.
    local_aws.warm().join(DEADLINE_S)
    assert local_aws.workers()[name_of(arn)] == [pid]


def test_reports_carry_the_measured_peak_and_duration_of_each_invocation(
    local_aws: LocalAws, caplog: pytest.LogCaptureFixture
) -> None:
    arn = register(local_aws, "allocate", memory_mb=512, timeout_s=30)
    caplog.set_level(logging.INFO, logger=LAMBDA_LOGGER)

    big, _ = invoke(local_aws, arn, {"mb": 200})
    big_report = last_report(local_aws, arn)
    small, _ = invoke(local_aws, arn, {"mb": 0})
    small_report = last_report(local_aws, arn)

    assert big["pid"] == small["pid"]  # the same warm execution environment
    assert big_report.max_memory_used_mb is not None and small_report.max_memory_used_mb is not None
    assert big_report.max_memory_used_mb >= 200
    assert small_report.max_memory_used_mb < big_report.max_memory_used_mb - 150  # the peak restarts
    assert big_report.init_duration_ms is not None and big_report.init_duration_ms > 0  # cold start
    assert small_report.init_duration_ms is None
    assert big_report.billed_duration_ms == math.ceil(big_report.duration_ms + big_report.init_duration_ms)
    assert small_report.billed_duration_ms == math.ceil(small_report.duration_ms)
    line = small_report.line()
    assert re.fullmatch(
        rf"{name_of(arn)} REPORT RequestId: {REQUEST_ID} Duration: \d+\.\d\d ms Billed Duration: \d+ ms"
        rf" Memory Size: 512 MB Max Memory Used: {small_report.max_memory_used_mb} MB",
        line,
    )
    assert line in caplog.messages


def test_duration_is_the_handlers_time_and_log_lines_come_before_the_report(
    local_aws: LocalAws, caplog: pytest.LogCaptureFixture
) -> None:
    nap = register(local_aws, "nap", memory_mb=128, timeout_s=30)
    chatty = register(local_aws, "chatty", memory_mb=128, timeout_s=30)
    caplog.set_level(logging.INFO, logger=LAMBDA_LOGGER)

    invoke(local_aws, nap, {"s": 0.3})
    invoke(local_aws, chatty, {"tag": "t-81"})

    assert 300 <= last_report(local_aws, nap).duration_ms < 300 + 2000
    mine = [m for m in caplog.messages if m.startswith(name_of(chatty) + " ")]
    assert mine[0] == f"{name_of(chatty)} printed t-81"
    assert re.fullmatch(rf"{name_of(chatty)} \[WARNING\]\t\S+Z\t{REQUEST_ID}\tlogged t-81", mine[1])
    assert mine[2] == last_report(local_aws, chatty).line()
    assert len(mine) == 3


# ---- execution environments ----------------------------------------------------------------------------------


def test_a_map_runs_in_up_to_pool_size_warm_workers(local_aws: LocalAws) -> None:
    arn = register(local_aws, "nap", memory_mb=128, timeout_s=30)
    definition = {
        "StartAt": "Pages",
        "States": {
            "Pages": {
                "Type": "Map",
                "ItemsPath": "$.naps",
                "MaxConcurrency": 6,
                "ItemSelector": {"s.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Nap",
                    "States": {"Nap": task(arn, End=True)},
                },
                "End": True,
            }
        },
    }

    first = run(local_aws, definition, {"naps": [0.2] * 6})
    second = run(local_aws, definition, {"naps": [0.2] * 6})

    assert first["status"] == second["status"] == "SUCCEEDED"
    pids = {item["pid"] for item in first["output"]}
    assert len(pids) == local_aws.pool_size == 2  # both cores, never more workers than the pool
    assert {item["pid"] for item in second["output"]} == pids  # reused while warm
    assert sorted(local_aws.workers()[name_of(arn)]) == sorted(pids)
    reports = [r for r in local_aws.reports() if r.function_name == name_of(arn)]
    assert sum(r.init_duration_ms is not None for r in reports) == 2  # one cold start per worker


def test_a_handler_error_keeps_its_class_name_and_its_worker(local_aws: LocalAws) -> None:
    arn = register(local_aws, "reject", memory_mb=128, timeout_s=30)
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": task(
                arn,
                Retry=[{"ErrorEquals": ["TransientError"], "MaxAttempts": 3}],
                Catch=[{"ErrorEquals": ["BadInput"], "ResultPath": "$.failure", "Next": "Rejected"}],
                End=True,
            ),
            "Rejected": {
                "Type": "Pass",
                "Parameters": {"cause.$": "States.StringToJson($.failure.Cause)"},
                "End": True,
            },
        },
    }

    summary = run(local_aws, definition, {"field": "ClaimID"})
    payload, failed = invoke(local_aws, arn, {"field": "Balance"})

    assert summary["states_entered"] == ["Call", "Rejected"]
    cause = summary["output"]["cause"]
    assert (cause["errorType"], cause["errorMessage"]) == ("BadInput", "claim field ClaimID is missing")
    assert failed and payload["errorType"] == "BadInput"
    assert len(local_aws.workers()[name_of(arn)]) == 1  # an error is not a crash: the worker stays warm
    assert last_report(local_aws, arn).status is None


def test_a_handler_that_does_not_import_fails_like_lambda(local_aws: LocalAws) -> None:
    missing_module = local_aws.register_function("no-module", "tests.workflow.no_such_module.handler")
    missing_handler = local_aws.register_function("no-handler", f"{HANDLERS}.no_such_handler")

    module_error, failed_module = invoke(local_aws, missing_module, {})
    handler_error, failed_handler = invoke(local_aws, missing_handler, {})

    assert failed_module and failed_handler
    assert module_error["errorType"] == "Runtime.ImportModuleError"
    assert module_error["errorMessage"].startswith("Unable to import module 'tests.workflow.no_such_module'")
    assert handler_error == {
        "errorType": "Runtime.HandlerNotFound",
        "errorMessage": f"Handler 'no_such_handler' missing on module '{HANDLERS}'",
    }
    assert local_aws.workers()["no-module"] == local_aws.workers()["no-handler"] == []


def test_a_new_environment_reaches_new_workers_only(local_aws: LocalAws) -> None:
    arn = register(
        local_aws, "environment", memory_mb=256, timeout_s=30, environment={"CLAIMSYNC_PAGE_SIZE": "100"}
    )
    names = [
        "CLAIMSYNC_PAGE_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_ENDPOINT_URL",
    ]

    before, _ = invoke(local_aws, arn, {"names": names})
    local_aws.update_function_environment(name_of(arn), {"CLAIMSYNC_PAGE_SIZE": "250"})
    after, _ = invoke(local_aws, arn, {"names": names})

    assert before["values"] == {
        "CLAIMSYNC_PAGE_SIZE": "100",
        "AWS_LAMBDA_FUNCTION_NAME": name_of(arn),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_ENDPOINT_URL": local_aws.endpoint_url,
    }
    assert after["values"]["CLAIMSYNC_PAGE_SIZE"] == "250"
    assert after["pid"] != before["pid"]
    assert wait_for_exit([before["pid"]], deadline_s=5) == []
    configuration = local_aws.client("lambda").get_function_configuration(FunctionName=name_of(arn))
    assert configuration["Environment"]["Variables"] == {"CLAIMSYNC_PAGE_SIZE": "250"}
    assert (configuration["MemorySize"], configuration["Timeout"]) == (256, 30)


# ---- no worker outlives the local world ---------------------------------------------------------------------

_WORLD_SCRIPT = textwrap.dedent(
    """
    import json, logging, os, signal, sys, threading
    from local.aws import LAMBDA_LOGGER, start_local_aws

    napping = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("busy napping"):
                napping.set()

    logging.getLogger(LAMBDA_LOGGER).addHandler(Watch())
    logging.getLogger(LAMBDA_LOGGER).setLevel(logging.INFO)
    aws = start_local_aws()
    idle = aws.register_function("idle", "tests.workflow.limits_handlers.nap")
    busy = aws.register_function("busy", "tests.workflow.limits_handlers.nap", timeout_s=300)
    lam = aws.client("lambda")
    lam.invoke(FunctionName=idle, Payload=b'{"s": 0}')
    lam.invoke(FunctionName=busy, InvocationType="Event", Payload=b'{"s": 120, "announce": true}')
    assert napping.wait(60), "the busy handler never started"
    print(json.dumps(aws.workers()), flush=True)
    before = [p for pids in aws.workers().values() for p in pids]
    if sys.argv[1] == "stop":
        aws.stop()
        alive = []
        for pid in [p for pids in aws.workers().values() for p in pids] + before:
            try:
                os.close(os.pidfd_open(pid))  # still running, or exited but never reaped
                alive.append(pid)
            except ProcessLookupError:
                pass
        print(json.dumps({"alive_after_stop": alive}), flush=True)
    else:
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.parametrize("ending", ["stop", "sigkill"])
def test_no_worker_outlives_the_local_world(ending: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", _WORLD_SCRIPT, ending],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = child.stdout.strip().splitlines()
    assert lines, child.stderr
    workers = json.loads(lines[0])
    pids = workers["idle"] + workers["busy"]
    assert len(pids) == 2

    if ending == "stop":
        assert child.returncode == 0, child.stderr
        assert json.loads(lines[-1]) == {"alive_after_stop": []}  # killed and reaped by stop() itself
    else:
        assert child.returncode == -signal.SIGKILL
        # Idle: its socket closes. Busy (mid-handler): it notices its parent is gone within 0.5 s.
        assert wait_for_exit(pids, deadline_s=10) == []
