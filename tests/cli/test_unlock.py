"""The lock from the command line: refused runs name the holder and exit 3; ``claimsync unlock``
removes a lock only once its owner has ended and exits 9 otherwise. Real subprocesses against a
real local world -- and the deployed-stack verbs too, pointed at the local AWS through a
CloudFormation stack whose outputs name the local world's resources.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from claimsync import layout
from claimsync.operator.deployment import OUTPUT_BUCKET, OUTPUT_STATE_MACHINE, OUTPUT_TABLE
from claimsync.operator.lock import lock_outcome
from local.aws import wait_for_execution
from local.exits import ExitCode
from local.syncrun import aws_client

pytestmark = pytest.mark.workflow

CLAIMSYNC = [sys.executable, "-m", "local.cli"]
FAR_FUTURE = 2_000_000_000  # 2033-05-18T03:33:20Z


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state_dir = tmp_path_factory.mktemp("unlock-world")
    proc = subprocess.Popen(
        [*CLAIMSYNC, "local", "up", "--claims", "40", "--seed", "5", "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        yield {"state_dir": state_dir, "endpoints": json.loads(lines.get(timeout=120))}
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def claimsync(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLAIMSYNC, *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, **(env or {})},
    )


def local(world: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return claimsync(*args, "--state-dir", str(world["state_dir"]))


def lock_owner(world: dict[str, Any]) -> str | None:
    ddb = aws_client(world["endpoints"], "dynamodb")
    item = ddb.get_item(
        TableName=world["endpoints"]["aws"]["table"],
        Key={"pk": {"S": layout.LOCK_PK}, "sk": {"S": layout.LOCK_SK}},
        ConsistentRead=True,
    ).get("Item")
    return item["owner"]["S"] if item else None


def put_lock(world: dict[str, Any], owner: str, lock_until: int = FAR_FUTURE) -> None:
    aws_client(world["endpoints"], "dynamodb").put_item(
        TableName=world["endpoints"]["aws"]["table"],
        Item={
            "pk": {"S": layout.LOCK_PK},
            "sk": {"S": layout.LOCK_SK},
            "owner": {"S": owner},
            "lock_until": {"N": str(lock_until)},
        },
    )


def until(condition: Any, deadline_s: float = 60) -> None:
    """Bounded wait for what another process does (AbnormalEnd runs inside `local up`)."""
    give_up = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < give_up, "condition not met in time"
        time.sleep(0.05)


def cmd_admin(world: dict[str, Any], path: str, body: Any = None) -> None:
    cmd = world["endpoints"]["collaboratemd"]
    requests.post(cmd["admin_url"] + path, json=body, verify=cmd["ca_cert"], timeout=30).raise_for_status()


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_unlock_refuses_while_the_owner_runs_and_removes_an_ended_owners_lock(world):
    result = local(world, "unlock", "--local")
    assert (result.returncode, result.stdout.strip()) == (0, "no run holds the lock: nothing to unlock")

    cmd_admin(world, "/config", {"running_polls": 1_000_000})  # the report never finishes: the run holds on
    sfn = aws_client(world["endpoints"], "stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=world["endpoints"]["aws"]["state_machine_arn"], name="lock-holder", input="{}"
    )["executionArn"]
    try:
        assert lock_outcome(sfn, arn, deadline_s=60, poll_s=0.05) == "ACQUIRED"
        assert lock_owner(world) == "lock-holder"
        refused = local(world, "unlock", "--local")
        assert refused.returncode == ExitCode.LOCK_HELD == 9, refused
        assert one_line(refused.stderr).startswith("error: refused: run lock-holder is RUNNING (started 20")
        assert lock_owner(world) == "lock-holder", "a running owner's lock stays"
    finally:
        sfn.stop_execution(executionArn=arn)
        wait_for_execution(sfn, arn, deadline_s=60)
        cmd_admin(world, "/reset")  # forget the report left running
        cmd_admin(world, "/config", {"running_polls": 2})
    until(lambda: lock_owner(world) is None)  # AbnormalEnd, in the world, released it

    put_lock(world, "lock-holder")  # as if the event had never been delivered (EventBridge: best effort)
    removed = local(world, "unlock", "--local")
    assert removed.returncode == 0, removed
    line = one_line(removed.stdout)
    assert line.startswith("removed the lock of run lock-holder (ABORTED, started 20"), line
    assert line.endswith("it held the lock until 2033-05-18T03:33:20Z)"), line
    assert lock_owner(world) is None


def test_a_refused_local_sync_names_the_holder_and_exits_3(world):
    put_lock(world, "someone-else")
    result = local(world, "local", "sync", "--json")
    assert result.returncode == ExitCode.ALREADY_RUNNING == 3, result
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "ALREADY_RUNNING"
    assert (summary["lock_holder"], summary["lock_until"]) == ("someone-else", "2033-05-18T03:33:20Z")
    assert result.stderr.strip().splitlines()[-1] == (
        "error: refused: run someone-else holds the lock until 2033-05-18T03:33:20Z "
        "(if that run has ended, `claimsync unlock` releases it)"
    )
    removed = local(world, "unlock", "--local")
    assert removed.returncode == 0
    assert "someone-else (UNKNOWN, no such execution of this state machine" in removed.stdout


def test_the_deployed_stack_verbs_refuse_and_unlock_through_the_same_code(world):
    """``claimsync sync`` and ``claimsync unlock`` find the stack through CloudFormation; here the
    local AWS holds a stack whose outputs are the local world's state machine, bucket and table."""
    aws = world["endpoints"]["aws"]
    template = {
        "Resources": {"Nothing": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            OUTPUT_STATE_MACHINE: {"Value": aws["state_machine_arn"]},
            OUTPUT_BUCKET: {"Value": aws["bucket"]},
            OUTPUT_TABLE: {"Value": aws["table"]},
        },
    }
    aws_client(world["endpoints"], "cloudformation").create_stack(
        StackName="Claimsync-Unlock-Test", TemplateBody=json.dumps(template)
    )
    env = {
        "AWS_ENDPOINT_URL": aws["endpoint_url"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    deployed = ("--stack", "Claimsync-Unlock-Test", "--region", aws["region"])

    put_lock(world, "someone-else")
    refused = claimsync("sync", "--json", *deployed, env=env)
    assert refused.returncode == ExitCode.ALREADY_RUNNING, refused
    assert json.loads(refused.stdout)["lock"] == "ALREADY_RUNNING"
    assert one_line(refused.stderr).startswith(
        "error: refused: run someone-else holds the lock until 2033-05-18"
    )

    removed = claimsync("unlock", *deployed, env=env)
    assert removed.returncode == 0 and "someone-else" in removed.stdout, removed
    started = claimsync("sync", "--json", *deployed, env=env)
    assert started.returncode == 0, started
    run = json.loads(started.stdout)
    assert run["lock"] == "ACQUIRED"
    sfn = aws_client(world["endpoints"], "stepfunctions")
    assert wait_for_execution(sfn, run["execution_arn"], deadline_s=120)["status"] == "SUCCEEDED"
    assert lock_owner(world) is None


def test_unlock_needs_a_running_world(tmp_path: Path):
    result = claimsync("unlock", "--local", "--state-dir", str(tmp_path))
    assert result.returncode == ExitCode.NOT_FOUND
    assert one_line(result.stderr).startswith("error: no local world is running")
