"""Abnormal ends heal themselves: a run stopped, timed out, or failed past every Catch.

The real ASL on moto, the real handlers and both emulators; the local world delivers the state
machine's "Step Functions Execution Status Change" events to the AbnormalEnd function as the
stack's EventBridge rule does. Each test checks what the next operator would otherwise find: the
run's Bulk job still queued in Salesforce, the lock held for hours, no run record.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from claimsync import layout
from local.aws import follow_execution
from local.syncrun import aws_client, run_summary, salesforce_counters, start_sync
from local.syncworld import FUNCTION_PREFIX
from local.world import salesforce_gateway
from tests.sync.conftest import World, assert_invariants, clean_rows

pytestmark = pytest.mark.workflow

UPLOAD_LOOP = ("IsUploadPending", "WaitForUpload", "CheckUpload")  # where a held upload is stopped


def start_and_follow_until(world: World, name: str, state: str, *, machine_arn: str | None = None) -> str:
    """Start a run and return its execution ARN once ``state`` was entered (the run goes on)."""
    if machine_arn is None:
        arn = start_sync(world.endpoints, name=name)
    else:
        arn = aws_client(world.endpoints, "stepfunctions").start_execution(
            stateMachineArn=machine_arn, name=name, input="{}"
        )["executionArn"]
    sfn = aws_client(world.endpoints, "stepfunctions")
    for event in follow_execution(sfn, arn, deadline_s=120, poll_interval_s=0.05):
        if event["type"].endswith("StateEntered") and event["stateEnteredEventDetails"]["name"] == state:
            return arn
    raise AssertionError(f"the run ended before entering {state}")


def upload_jobs(world: World, run_id: str) -> list[str]:
    s3 = aws_client(world.endpoints, "s3")
    body = s3.get_object(Bucket=world.endpoints["aws"]["bucket"], Key=layout.upload_state_key(run_id))
    state = json.loads(body["Body"].read())
    assert state["mode"] == "BULK"
    return [job["id"] for job in state["jobs"]]


def job_states(world: World, job_ids: list[str]) -> list[str]:
    gw = salesforce_gateway(world.endpoints)
    return [gw.bulk_job(job_id)["state"] for job_id in job_ids]


def run_record(world: World, run_id: str) -> dict[str, str]:
    item = world.item(layout.RUN_PK, run_id)
    assert item is not None, f"no run record for {run_id}"
    return {k: next(iter(v.values())) for k, v in item.items()}


def bulk_run_held_in_salesforce(world: World, rows: list[dict[str, str]]) -> None:
    """The next run uploads with one Bulk job that Salesforce keeps queued (hold_jobs)."""
    world.set_rows(rows)
    world.configure(collections_max_rows=10)
    world.sf("POST", "/faults", json={"kind": "hold_jobs"})


def test_a_run_stopped_mid_upload_aborts_its_job_unlocks_and_the_next_run_is_normal(world):
    rows = clean_rows(200)
    bulk_run_held_in_salesforce(world, rows)
    before = salesforce_counters(world.endpoints)
    arn = start_and_follow_until(world, "stopped-mid-upload", "CheckUpload")
    jobs = upload_jobs(world, "stopped-mid-upload")
    assert job_states(world, jobs) == ["UploadComplete"], "queued in Salesforce, not yet processed"
    assert world.lock()["owner"]["S"] == "stopped-mid-upload"

    aws_client(world.endpoints, "stepfunctions").stop_execution(executionArn=arn)
    delivery = world.settled(arn)

    assert delivery.ok and delivery.status == "ABORTED", delivery
    assert delivery.result["jobs_aborted"] == jobs and delivery.result["lock"] == "released"
    assert job_states(world, jobs) == ["Aborted"]
    assert world.lock() is None
    record = run_record(world, "stopped-mid-upload")
    assert (record["status"], record["error"]) == ("ABORTED", "ExecutionAborted")
    assert record["failed_state"] in UPLOAD_LOOP
    assert record["bulk_jobs_aborted"] == "1" and record["started_at"].endswith("Z")
    summary = run_summary(world.endpoints, arn, before, 0.0)
    assert_invariants(world, summary, rows)  # lock gone, no claim value in logs or history

    world.sf("DELETE", "/faults")  # Salesforce processes its queue again: the aborted job never lands
    assert world.claims_in_salesforce() == {}
    after = world.sync()
    assert after["status"] == "SUCCEEDED", after
    assert (after["sent"], after["succeeded"]) == (200, 200), "the checkpoint never counted the stopped run"
    assert_invariants(world, after, rows)
    assert len(world.claims_in_salesforce()) == 200


def test_a_failed_run_keeps_the_state_machines_record_and_its_queued_job_is_aborted(world):
    rows = clean_rows(200)
    bulk_run_held_in_salesforce(world, rows)
    world.configure(collections_max_rows=10, upload_deadline_seconds=1)
    before = salesforce_counters(world.endpoints)
    summary = world.sync()  # CheckUpload: UploadDeadlineExceeded -> RecordFailure -> RunFailed
    assert summary["status"] == "FAILED" and summary["error"] == "UploadDeadlineExceeded", summary
    arn = summary_arn(world, summary)
    delivery = world.settled(arn)

    jobs = upload_jobs(world, summary["execution"])
    assert delivery.ok and delivery.status == "FAILED"
    assert delivery.result["jobs_aborted"] == jobs, "a job left queued would land after the next run's"
    assert (delivery.result["record"], delivery.result["lock"]) == ("kept", "not held")
    assert job_states(world, jobs) == ["Aborted"]
    record = run_record(world, summary["execution"])
    assert (record["status"], record["failed_state"], record["error"]) == (
        "FAILED",
        "CheckUpload",
        "UploadDeadlineExceeded",
    ), "RecordFailure's record is kept, not overwritten"
    assert "bulk_jobs_aborted" not in record
    assert_invariants(world, run_summary(world.endpoints, arn, before, 0.0), rows)


def summary_arn(world: World, summary: dict[str, Any]) -> str:
    machine = world.endpoints["aws"]["state_machine_arn"]
    return machine.replace(":stateMachine:", ":execution:") + ":" + summary["execution"]


def test_a_runtime_error_no_catch_handles_is_recorded_and_unlocks(world):
    """A Wait whose SecondsPath finds nothing (here: StartUpload's result lacks the ``poll_seconds``
    WaitForUpload reads) fails the execution with States.Runtime, which no Catch handles. Without
    AbnormalEnd the lock stays for hours and the Bulk job StartUpload queued lands whenever."""
    from handlers import start_upload

    rows = clean_rows(200)
    bulk_run_held_in_salesforce(world, rows)
    assert world.local is not None
    aws, spec = world.local.aws, next(s for s in layout.SYNC_FUNCTIONS if s.name == "StartUpload")

    def start_upload_without_poll_seconds(event: dict[str, Any], context: Any) -> Any:
        result = start_upload.handler(event, context)
        del result["poll_seconds"]
        return result

    def register(handler: Any) -> None:
        aws.register_function(
            FUNCTION_PREFIX + spec.name, handler, timeout_s=spec.timeout_s, memory_mb=spec.memory_mb
        )

    register(start_upload_without_poll_seconds)
    try:
        summary = world.sync()
    finally:
        register(start_upload.handler)
    assert summary["status"] == "FAILED" and summary["error"] == "States.Runtime", summary
    delivery = world.settled(summary_arn(world, summary))

    jobs = upload_jobs(world, summary["execution"])
    assert delivery.ok and (delivery.result["record"], delivery.result["lock"]) == ("written", "released")
    assert delivery.result["jobs_aborted"] == jobs and job_states(world, jobs) == ["Aborted"]
    record = run_record(world, summary["execution"])
    assert (record["status"], record["error"], record["failed_state"]) == (
        "FAILED",
        "States.Runtime",
        "WaitForUpload",
    )
    assert_invariants(world, summary, rows)
    world.sf("DELETE", "/faults")
    after = world.sync()
    assert after["status"] == "SUCCEEDED" and after["succeeded"] == 200


def test_a_timed_out_run_is_settled(world):
    """The same definition with a 10 s overall timeout (real seconds locally). The run holds on in
    its report loop (CollaborateMD keeps the report running), so it times out there whatever the
    machine's speed; aborting jobs is the same code for every status (the tests above)."""
    world.set_rows(clean_rows(30))
    world.cmd("POST", "/config", json={"running_polls": 1_000_000})
    sfn = aws_client(world.endpoints, "stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=world.endpoints["aws"]["state_machine_arn"])
    definition = json.loads(machine["definition"])
    definition["TimeoutSeconds"] = 10
    short = sfn.create_state_machine(
        name="claimsync-claim-sync-short-timeout",
        definition=json.dumps(definition),
        roleArn=machine["roleArn"],
        type="STANDARD",
    )["stateMachineArn"]
    assert world.local is not None
    world.local.abnormal_ends.watch(short)
    try:
        arn = start_and_follow_until(world, "timed-out", "LoadCheckpoint", machine_arn=short)
        assert world.lock()["owner"]["S"] == "timed-out"
        delivery = world.settled(arn)
    finally:
        sfn.delete_state_machine(stateMachineArn=short)

    assert delivery.ok and delivery.status == "TIMED_OUT", delivery
    assert (delivery.result["jobs_aborted"], delivery.result["lock"]) == ([], "released")
    record = run_record(world, "timed-out")
    assert (record["status"], record["error"]) == ("TIMED_OUT", "ExecutionTimedOut")
    assert record["failed_state"] in ("LoadCheckpoint", "GatherSources", "StartReport", "WaitForReport",
                                      "CheckReport", "IsReportReady", "LoadPayors")  # fmt: skip
    assert world.lock() is None


def test_a_repeated_event_changes_nothing_and_never_releases_another_runs_lock(world):
    """EventBridge delivers at least once: the same event again, after a newer run took the lock."""
    rows = clean_rows(200)
    bulk_run_held_in_salesforce(world, rows)
    arn = start_and_follow_until(world, "stopped-twice", "CheckUpload")
    sfn = aws_client(world.endpoints, "stepfunctions")
    sfn.stop_execution(executionArn=arn)
    first = world.settled(arn)
    assert first.ok and first.result["lock"] == "released" and first.result["record"] == "written"
    record = run_record(world, "stopped-twice")
    world.put_lock("a-newer-run", 2_000_000_000)

    lam = aws_client(world.endpoints, "lambda")
    event = replayed_event(sfn, arn)
    response = lam.invoke(FunctionName=world.endpoints["aws"]["abnormal_end_function"], Payload=event)
    again = json.loads(response["Payload"].read())

    assert "FunctionError" not in response, again
    assert again["jobs_aborted"] == [] and again["jobs_final"] == 1
    assert (again["record"], again["lock"]) == ("kept", "not held")
    assert world.lock()["owner"]["S"] == "a-newer-run", "another run's lock is never released"
    assert run_record(world, "stopped-twice") == record


def replayed_event(sfn: Any, execution_arn: str) -> bytes:
    described = sfn.describe_execution(executionArn=execution_arn)
    return json.dumps(
        {
            "version": "0",
            "id": "replayed",
            "detail-type": layout.EXECUTION_STATUS_CHANGE,
            "source": "aws.states",
            "detail": {
                "executionArn": execution_arn,
                "stateMachineArn": described["stateMachineArn"],
                "name": described["name"],
                "status": described["status"],
                "startDate": int(described["startDate"].timestamp() * 1000),
                "stopDate": int(described["stopDate"].timestamp() * 1000),
                "error": None,
                "cause": None,
            },
        }
    ).encode()
