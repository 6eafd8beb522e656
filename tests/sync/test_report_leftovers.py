"""A run must never be blocked by an earlier run's leftovers, and bad report text must not fail a run.

CollaborateMD runs one report per customer at a time. When a run fails after its report started, the
report keeps running; the next run's start answers REPORT RUNNING. These tests leave a report
running by each way a run can fail in GatherSources and check the next normal run succeeds at once
(it adopts the recorded request instead of failing with CmdReportBusy).
"""

from __future__ import annotations

import pytest

from claimsync import layout
from tests.sync.conftest import assert_invariants, clean_rows

pytestmark = pytest.mark.workflow


def running_reports(world) -> list[str]:
    return world.cmd("GET", "")["running"]


def leave_report_running(world, fault_target: str, fault: dict | None) -> dict:
    """A full run that fails in GatherSources while its report is still running."""
    rows = clean_rows(40)
    world.set_rows(rows)
    world.cmd("POST", "/config", json={"running_polls": 1000})  # still running when the run fails
    if fault:
        world._admin(fault_target, "POST", "/faults", json=fault)
    failed = world.sync()
    assert_invariants(world, failed, rows)
    assert failed["status"] == "FAILED"
    assert len(running_reports(world)) == 1, "precondition: the failed run left its report running"
    recorded = world.item(layout.REPORT_PK, layout.REPORT_SK)
    assert recorded is not None and recorded["run_id"]["S"] == failed["execution"]
    world._admin(fault_target, "DELETE", "/faults")
    world.cmd("POST", "/running", json={"remaining_polls": 1})  # CollaborateMD finishes it soon
    return failed


def assert_next_run_is_normal(world, failed: dict) -> None:
    rows = world.cmd("GET", "/rows")["rows"]
    runs_before = world.cmd("GET", "/calls")["run"]
    nxt = world.sync()
    assert_invariants(world, nxt, rows)
    assert nxt["status"] == "SUCCEEDED", nxt
    assert nxt["sent"] == nxt["rows_in"] == 40
    assert world.cmd("GET", "/calls")["run"] - runs_before == 1, "one start, refused, then adopted"
    assert running_reports(world) == []
    assert world.item(layout.REPORT_PK, layout.REPORT_SK) is None, "a finished report is forgotten"
    assert failed["execution"] in world.history_text(nxt["execution"]), "the adoption is visible"


@pytest.mark.parametrize(
    ("target", "fault", "error"),
    [
        ("salesforce", {"kind": "unavailable", "on": "query", "count": 1000}, "SalesforceUnavailable"),
        (
            "collaboratemd",
            {"kind": "http_status", "status": 503, "count": 1000, "on": "results"},
            "CmdUnavailable",
        ),
    ],
    ids=["load-payors-503", "report-poll-retries-exhausted"],
)
def test_a_report_left_running_by_a_failed_run_is_adopted_by_the_next(world, target, fault, error):
    failed = leave_report_running(world, target, fault)
    assert failed["error"] == error
    assert_next_run_is_normal(world, failed)


def test_a_report_left_running_after_the_api_limit_is_adopted(world):
    world.sf("POST", "/limits", json={"daily_api_limit": 1000, "used": 1000})
    failed = leave_report_running(world, "salesforce", None)
    assert failed["error"] == "SalesforceLimitExceeded"
    world.sf("POST", "/limits", json={"daily_api_limit": 100000, "used": 0})
    assert_next_run_is_normal(world, failed)


def test_a_busy_report_that_is_not_ours_is_still_retried_then_fails_clearly(world):
    rows = clean_rows(10)
    world.set_rows(rows)
    world.cmd("POST", "/faults", json={"kind": "start_status", "status": "REPORT RUNNING", "count": 100})
    summary = world.sync()
    assert summary["status"] == "FAILED" and summary["error"] == "CmdReportBusy"
    assert world.item(layout.REPORT_PK, layout.REPORT_SK) is None


def test_a_damaged_download_is_fetched_again(world):
    rows = clean_rows(30)
    world.set_rows(rows)
    world.cmd("POST", "/faults", json={"kind": "corrupt_zip", "count": 1})
    summary = world.sync()
    assert_invariants(world, summary, rows)
    assert summary["status"] == "SUCCEEDED" and summary["succeeded"] == 30


def test_a_download_damaged_every_time_fails_the_run_after_bounded_retries(world):
    rows = clean_rows(30)
    world.set_rows(rows)
    world.cmd("POST", "/faults", json={"kind": "corrupt_zip", "count": 10})
    summary = world.sync()
    assert_invariants(world, summary, rows)
    assert summary["status"] == "FAILED" and summary["error"] == "ReportDownloadCorrupt"
    assert world.cmd("GET", "/calls")["statuses"]["results"]["SUCCESS"] == 3, "fetched, then twice again"
    assert running_reports(world) == []


# ---- text that is not valid Unicode, #N/A, missing keys: rejected rows, the run goes on -------------


@pytest.mark.parametrize("members", [["json"], ["csv"]])
def test_a_lone_surrogate_in_any_column_rejects_that_row_and_the_run_goes_on(world, members):
    world.cmd("POST", "/config", json={"members": members, "running_polls": 1})
    rows = clean_rows(20)
    rows[3]["PateintNameID"] = "DOE, J\ud83d (7)"  # half an emoji
    rows[7]["PaymentCheck"] = "\udc80"
    rows[9]["NotMapped"] = "\ud800"  # a column claimsync does not read changes nothing
    world.set_rows(rows)  # the emulator serves it (set-report used to answer 500)
    summary = world.sync()
    assert_invariants(world, summary, rows)
    assert summary["status"] == "PARTIAL"
    assert summary["rejected"] == 2 and summary["reject_reasons"] == {"INVALID_TEXT": 2}
    rejects = world.s3_text(summary["reports"]["rejects"])
    assert "INVALID_TEXT:PateintNameID" in rejects and "INVALID_TEXT:PaymentCheck" in rejects
    landed = world.claims_in_salesforce()
    assert rows[3]["ClaimID"] not in landed and rows[9]["ClaimID"] in landed


def test_a_literal_null_marker_and_a_missing_key_are_rejected_not_nulled(world):
    world.cmd("POST", "/config", json={"members": ["json"]})  # JSON rows can lack a key; CSV rows cannot
    rows = clean_rows(20)
    rows[0]["PrimaryAuth"] = "#N/A"
    del rows[1]["ClaimTotalAmount"]
    del rows[0]["PaymentReceived"]  # the first row lacking a key no longer fails the run
    world.set_rows(rows)
    summary = world.sync()
    assert_invariants(world, summary, rows)
    assert summary["status"] == "PARTIAL" and summary["rejected"] == 2
    assert summary["reject_reasons"] == {"MISSING_COLUMN": 2, "RESERVED_VALUE": 1}
    rejects = world.s3_text(summary["reports"]["rejects"])
    assert "RESERVED_VALUE:PrimaryAuth" in rejects and "MISSING_COLUMN:ClaimTotalAmount" in rejects
    landed = world.claims_in_salesforce()
    assert rows[0]["ClaimID"] not in landed and rows[1]["ClaimID"] not in landed


def test_a_report_left_running_by_a_stopped_run_is_adopted_by_the_next(world):
    """The fourth cause: an abort (StopExecution) while the report runs. The abnormal-end handling
    releases the lock; the report stays recorded and the next normal run adopts it at once."""
    from local.syncrun import aws_client
    from tests.sync.test_abnormal_end import start_and_follow_until

    rows = clean_rows(40)
    world.set_rows(rows)
    world.cmd("POST", "/config", json={"running_polls": 1000})
    arn = start_and_follow_until(world, "stopped-in-gather-sources", "CheckReport")
    aws_client(world.endpoints, "stepfunctions").stop_execution(executionArn=arn)
    delivery = world.settled(arn)
    assert delivery.ok and delivery.status == "ABORTED", delivery
    assert world.lock() is None
    assert len(running_reports(world)) == 1, "precondition: the stopped run left its report running"
    world.cmd("POST", "/running", json={"remaining_polls": 1})
    assert_next_run_is_normal(world, {"execution": "stopped-in-gather-sources"})
