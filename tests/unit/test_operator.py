"""Operator verbs (claimsync.operator) against moto (in-process): outputs, start, runs, failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from claimsync import layout
from claimsync.operator.deployment import (
    DEFAULT_STACK_NAME,
    OUTPUT_BUCKET,
    OUTPUT_STATE_MACHINE,
    OUTPUT_TABLE,
    Deployment,
    OperatorError,
    find_deployment,
)
from claimsync.operator.execution import start_sync
from claimsync.operator.lock import AFTER_LOCK_STATE, lock_outcome
from claimsync.operator.runs import get_run, recent_runs, run_failures
from stacks.config import InfraConfig

pytestmark = pytest.mark.unit

REGION = "us-east-1"
STACK = DEFAULT_STACK_NAME


@dataclass
class World:
    cfn: Any
    sfn: Any
    ddb: Any
    s3: Any
    deployment: Deployment


# A run that takes the lock (the state after AcquireLock is entered, as `claimsync sync` waits for)
# and then goes on for an hour: following it ends at the follower's deadline, not the run's end.
RUN_HOLDING_THE_LOCK = {
    "StartAt": "AcquireLock",
    "States": {
        "AcquireLock": {"Type": "Pass", "Next": AFTER_LOCK_STATE},
        AFTER_LOCK_STATE: {"Type": "Wait", "Seconds": 3600, "End": True},
    },
}


def deploy_fakes(cfn: Any, sfn: Any, ddb: Any, s3: Any) -> Deployment:
    s3.create_bucket(Bucket="staging")
    ddb.create_table(
        TableName="sync-state",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    machine = sfn.create_state_machine(
        name="Claimsync-claim-sync",
        definition=json.dumps(RUN_HOLDING_THE_LOCK),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    template = {
        "Resources": {"Nothing": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            OUTPUT_STATE_MACHINE: {"Value": machine},
            OUTPUT_BUCKET: {"Value": "staging"},
            OUTPUT_TABLE: {"Value": "sync-state"},
        },
    }
    cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    return find_deployment(cfn, STACK)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # Executions run (moto's interpreter): `claimsync sync` waits until a run holds the lock.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        clients = [
            boto3.client(s, region_name=REGION) for s in ("cloudformation", "stepfunctions", "dynamodb", "s3")
        ]
        world = World(*clients, deployment=deploy_fakes(*clients))
        try:
            yield world
        finally:  # wake the runs' Wait states: no thread outlives the test
            machine = world.deployment.state_machine_arn
            for execution in world.sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")[
                "executions"
            ]:
                # moto's worker thread sets a run up after StartExecution returns: a stop before that
                # fails and leaves the thread in its hour-long Wait, so first let the run reach it
                lock_outcome(world.sfn, execution["executionArn"], deadline_s=30, poll_s=0.01)
                world.sfn.stop_execution(executionArn=execution["executionArn"])


def test_default_stack_name_is_the_stacks_default() -> None:
    assert InfraConfig().stack_name("ClaimSync") == DEFAULT_STACK_NAME


def test_find_deployment_reads_the_outputs(world: World) -> None:
    assert world.deployment.bucket == "staging"
    assert world.deployment.table == "sync-state"
    assert world.deployment.state_machine_arn.endswith(":stateMachine:Claimsync-claim-sync")


def test_find_deployment_names_a_missing_stack(world: World) -> None:
    with pytest.raises(OperatorError, match="Nope"):
        find_deployment(world.cfn, "Nope")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [({}, {}), ({"full_sync": True}, {"full_sync": True}), ({"dry_run": True}, {"dry_run": True})],
)
def test_start_sync_names_the_execution_and_sends_the_input(
    world: World, flags: dict[str, bool], expected: Any
) -> None:
    started = start_sync(world.sfn, world.deployment, **flags)
    execution = world.sfn.describe_execution(executionArn=started.execution_arn)
    assert execution["name"] == started.run_id
    assert json.loads(execution["input"]) == expected == started.input
    assert len(started.run_id) <= 80
    assert started.run_id.startswith(
        {"full_sync": "full-", "dry_run": "dry-run-"}.get(next(iter(flags), ""), "manual-")
    )


def test_two_starts_get_distinct_run_ids(world: World) -> None:
    first = start_sync(world.sfn, world.deployment)
    second = start_sync(world.sfn, world.deployment)
    assert first.run_id != second.run_id


def put_run(ddb: Any, run_id: str, started_at: str, **attrs: str) -> None:
    item = {"pk": {"S": layout.RUN_PK}, "sk": {"S": run_id}, "started_at": {"S": started_at}}
    item.update({k: {"S": v} for k, v in attrs.items()})
    ddb.put_item(TableName="sync-state", Item=item)


def test_recent_runs_are_newest_first_with_summary_and_failure_details(world: World) -> None:
    summary = {"status": "PARTIAL", "rows_in": 10, "sent": 4, "rejected": 1}
    put_run(
        world.ddb, "b7c1-uuid-like", "2026-03-02T06:00:01Z", status="PARTIAL", summary=json.dumps(summary)
    )
    put_run(world.ddb, "a0f3-uuid-like", "2026-03-03T06:00:01Z", status="FAILED", failed_state="StartUpload",
            error="SalesforceError", cause="upload refused")  # fmt: skip
    put_run(world.ddb, "zz-oldest", "2026-03-01T06:00:01Z", status="SUCCEEDED", summary="{}")
    world.ddb.put_item(TableName="sync-state", Item={"pk": {"S": "LOCK"}, "sk": {"S": "claim-sync"}})
    runs = recent_runs(world.ddb, world.deployment)
    assert [r.run_id for r in runs] == ["a0f3-uuid-like", "b7c1-uuid-like", "zz-oldest"]
    assert runs[0].as_dict()["failed_state"] == "StartUpload" and runs[0].error == "SalesforceError"
    assert runs[1].summary == summary
    assert recent_runs(world.ddb, world.deployment, limit=1) == runs[:1]
    assert get_run(world.ddb, world.deployment, "zz-oldest").status == "SUCCEEDED"
    with pytest.raises(OperatorError):
        get_run(world.ddb, world.deployment, "missing")


def test_run_failures_fetches_both_csvs(world: World) -> None:
    world.s3.put_object(
        Bucket="staging", Key=layout.report_key("run-1", "failures.csv"), Body=b"claim,error\n1,X\n"
    )
    world.s3.put_object(Bucket="staging", Key=layout.report_key("run-1", "summary.json"), Body=b"{}")
    reports = run_failures(world.s3, world.deployment, "run-1")
    assert reports == {"failures.csv": "claim,error\n1,X\n", "rejects.csv": None}


def test_run_failures_of_an_unknown_run_is_an_operator_error(world: World) -> None:
    with pytest.raises(OperatorError, match="no reports"):
        run_failures(world.s3, world.deployment, "never-ran")
    with pytest.raises(OperatorError):
        run_failures(world.s3, world.deployment, "../etc")


# ---- the command line over the same verbs ------------------------------------------------------------


def test_cli_sync_runs_and_failures_against_the_deployed_stack(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    from local.cli import main

    assert main(["sync", "--full", "--region", REGION, "--json"]) == 0
    started = json.loads(capsys.readouterr().out)
    assert started["input"] == {"full_sync": True} and started["run_id"].startswith("full-")

    summary = {"rows_in": 3, "sent": 2, "unchanged": 0, "rejected": 1, "succeeded": 2, "failed": 0}
    world.ddb.put_item(
        TableName="sync-state",
        Item={
            "pk": {"S": layout.RUN_PK},
            "sk": {"S": started["run_id"]},
            "status": {"S": "PARTIAL"},
            "summary": {"S": json.dumps(summary)},
            "started_at": {"S": "2026-11-22T06:00:00Z"},
            "finished_at": {"S": "2026-11-22T06:00:42Z"},
        },
    )
    assert main(["runs", "--region", REGION]) == 0
    header, row = capsys.readouterr().out.splitlines()[:2]
    assert header.startswith("RUN ID") and "DURATION" in header
    assert row.split()[:8] == [started["run_id"], "PARTIAL", "2026-11-22", "06:00:00", "2026-11-22",
                               "06:00:42", "42.0", "s"]  # fmt: skip
    assert row.split()[8:14] == ["3", "2", "0", "1", "2", "0"]

    world.s3.put_object(
        Bucket="staging", Key=layout.report_key(started["run_id"], "rejects.csv"), Body=b"row_number\n2\n"
    )
    assert main(["failures", started["run_id"], "--region", REGION]) == 0
    out = capsys.readouterr().out
    assert "== rejects.csv ==\nrow_number\n2" in out and "== failures.csv ==\n(none" in out

    assert main(["failures", "no-such-run", "--region", REGION]) == 5
    assert "has no reports" in capsys.readouterr().err


def test_cli_follow_against_aws_stops_at_its_timeout_and_says_how_to_follow_again(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fake run goes on for an hour: following it must end at the deadline (exit 8)."""
    from local.cli import main

    assert main(["sync", "--follow", "--region", REGION, "--timeout", "0.5"]) == 8
    captured = capsys.readouterr()
    run_id = captured.out.splitlines()[0].split()[1].rstrip(":")
    assert captured.out.splitlines()[0] == f"run {run_id}: started (incremental) in stack {STACK} ({REGION})"
    err = captured.err.splitlines()
    assert len(err) == 1
    assert err[0].endswith(f"follow it again with: claimsync sync --region {REGION} --follow {run_id}")


def test_cli_names_a_missing_stack(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    from local.cli import main

    assert main(["runs", "--stack", "Nope", "--region", REGION]) == 5
    err = capsys.readouterr().err
    assert err.startswith("error: stack 'Nope' not found") and err.count("\n") == 1
