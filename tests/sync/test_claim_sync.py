"""The claim sync end to end: the real ASL on moto, the real handlers, both emulators over the wire.

Every test checks the run's accounting, that the lock is released, and that no claim value reaches
the logs or the execution history (``assert_invariants``).
"""

from __future__ import annotations

import csv
import io
import time

import pytest

from claimsync import layout
from local.collaboratemd_emulator.generator import GeneratorSettings, generate_report, mutate_rows
from local.syncrun import follow, run_summary, salesforce_counters, start_sync
from local.syncworld import FUNCTION_PREFIX
from local.world import salesforce_gateway
from tests.sync.conftest import assert_invariants, clean_rows

pytestmark = pytest.mark.workflow

SALESFORCE_FUNCTIONS = {FUNCTION_PREFIX + spec.name for spec in layout.SYNC_FUNCTIONS if spec.salesforce}


def sf_writes(counters: dict) -> int:
    kinds = counters.get("by_kind", {})
    return sum(
        n
        for k, n in kinds.items()
        if k.startswith(
            ("bulk_", "composite", "collections", "sobject_create", "sobject_update", "sobject_upsert")
        )
    )


# ---- happy path, incremental, idempotent, full, dry run ------------------------------------------------


def test_full_then_incremental_then_nothing(world):
    rows = clean_rows(600, unmapped_share=0.05)
    world.set_rows(rows)

    first = world.sync()
    assert_invariants(world, first, rows)
    assert first["status"] == "SUCCEEDED"
    assert first["sent"] == first["succeeded"] == 600 and first["new"] == 600
    landed = world.claims_in_salesforce()
    assert set(landed) == {r["ClaimID"] for r in rows}
    assert {r["Last_Sync_Run__c"] for r in landed.values()} == {first["run_id"]}
    checkpoint = world.checkpoint()
    assert checkpoint["last_run_id"]["S"] == first["run_id"]

    changed_rows, changed_ids = mutate_rows(rows, share=0.02, seed=3)
    world.set_rows(changed_rows)
    second = world.sync()
    assert_invariants(world, second, changed_rows)
    assert second["sent"] == len(changed_ids) == second["changed"] and second["new"] == 0
    assert second["unchanged"] == 600 - len(changed_ids)
    landed = world.claims_in_salesforce()
    assert {c for c, r in landed.items() if r["Last_Sync_Run__c"] == second["run_id"]} == set(changed_ids)

    third = world.sync()
    assert_invariants(world, third, changed_rows)
    assert third["sent"] == 0 and third["unchanged"] == 600 and third["status"] == "SUCCEEDED"
    assert world.checkpoint()["last_run_id"]["S"] == third["run_id"]


def test_formatting_only_changes_are_not_resent(world):
    rows = clean_rows(50)
    world.set_rows(rows)
    world.sync()
    reformatted = [
        dict(r, ClaimTotalAmount=r["ClaimTotalAmount"].replace("$", "").replace(",", "")) for r in rows
    ]
    world.set_rows(reformatted)
    summary = world.sync()
    assert_invariants(world, summary, reformatted)
    assert summary["sent"] == 0


def test_full_sync_resends_every_valid_claim(world):
    rows = clean_rows(300)
    world.set_rows(rows)
    world.sync()
    summary = world.sync(full=True)
    assert_invariants(world, summary, rows)
    assert summary["sent"] == summary["succeeded"] == 300 and summary["unchanged"] == 0


def test_dry_run_writes_nothing_and_reports_what_it_would_send(world):
    rows = clean_rows(200)
    world.set_rows(rows)
    before = salesforce_counters(world.endpoints)
    summary = world.sync(dry_run=True)
    after = salesforce_counters(world.endpoints)
    assert_invariants(world, summary, rows)
    assert summary["status"] == "DRY_RUN" and summary["sent"] == 200 and summary["new"] == 200
    assert world.claims_in_salesforce() == {}
    assert sf_writes(after) == sf_writes(before)
    assert world.checkpoint() is None, "a dry run never advances the checkpoint"


# ---- upload paths ---------------------------------------------------------------------------------------


def test_bulk_path_for_large_deltas_and_collections_for_small(world):
    rows = clean_rows(400)
    world.set_rows(rows)
    world.configure(collections_max_rows=100)
    bulk = world.sync()
    assert_invariants(world, bulk, rows)
    assert bulk["upload_mode"] == "BULK" and bulk["succeeded"] == 400

    changed_rows, changed = mutate_rows(rows, share=0.05, seed=9)
    world.set_rows(changed_rows)
    small = world.sync()
    assert_invariants(world, small, changed_rows)
    assert small["upload_mode"] == "COLLECTIONS" and small["succeeded"] == len(changed) == 20
    # Collections cost one call per 200 records, plus the login and the payor query
    assert small["salesforce_api_calls"] <= 4


# ---- rejects, duplicates, unmapped payers ---------------------------------------------------------------


def test_malformed_rows_are_rejected_with_reasons_and_never_sent(world):
    report = generate_report(
        GeneratorSettings(claims=300, seed=5, malformed_share=0.1, duplicate_share=0.0, unmapped_share=0.0)
    )
    world.set_rows(report.rows)
    summary = world.sync()
    assert_invariants(world, summary, report.rows)
    assert summary["rejected"] == len(report.malformed) == 30
    assert summary["status"] == "PARTIAL"
    rejects = list(csv.DictReader(io.StringIO(world.s3_text(summary["reports"]["rejects"]))))
    assert {int(r["row_number"]) for r in rejects} == {i + 1 for i in report.malformed}
    assert all(r["reasons"] for r in rejects)
    assert set(summary["reject_reasons"]) <= {
        "MISSING_CLAIM_ID",
        "INVALID_CLAIM_ID",
        "INVALID_DATE",
        "INVALID_AMOUNT",
        "INVALID_DATE_RANGE",
        "VALUE_TOO_LONG",
    }
    sent_ids = set(world.claims_in_salesforce())
    for index in report.malformed:
        assert report.rows[index]["ClaimID"].strip() not in sent_ids


def test_duplicate_claim_ids_far_apart_in_the_report_last_row_wins(world):
    rows = clean_rows(250)
    early = dict(rows[2])
    late = dict(early, ClaimBalance="12.34", ClaimAmountPaid="0", ClaimTotalAmount="12.34")
    rows = [*rows, late]  # row 251 repeats row 3's ClaimID, ~250 rows (and pages of 100) apart
    world.set_rows(rows)
    summary = world.sync()
    assert_invariants(world, summary, rows)
    assert summary["rejected"] == 1 and summary["reject_reasons"] == {"DUPLICATE_CLAIM_ID": 1}
    rejects = list(csv.DictReader(io.StringIO(world.s3_text(summary["reports"]["rejects"]))))
    assert [(r["row_number"], r["claim_id"]) for r in rejects] == [("3", early["ClaimID"])]
    assert world.claims_in_salesforce()[early["ClaimID"]]["Balance__c"] == 12.34


def test_unmapped_payers_are_sent_reported_and_resent_once_mapped(world):
    rows = clean_rows(200, unmapped_share=0.1)
    world.set_rows(rows)
    summary = world.sync()
    assert_invariants(world, summary, rows)
    unmapped = summary["unmapped_payers"]
    assert sum(p["claims"] for p in unmapped) == 20
    landed = world.claims_in_salesforce()
    assert (
        sum(
            1
            for r in landed.values()
            if r["Payor_Mapping_Status__c"] == "Unmapped" and r["Claim_Payor__c"] is None
        )
        == 20
    )

    payer = unmapped[0]
    gw = salesforce_gateway(world.endpoints)
    payor_id = gw.create("Claim_Payor__c", {"Name": payer["payer_name"]})
    gw.create(
        "Payor_Mapping__c",
        {
            "CMD_Payer_Id__c": payer["payer_id"],
            "CMD_Payer_Name__c": payer["payer_name"],
            "Claim_Payor__c": payor_id,
            "Active__c": True,
        },
    )
    after = world.sync()
    assert_invariants(world, after, rows)
    assert after["sent"] == payer["claims"], "a new payor mapping resends exactly the claims it affects"
    assert {p["payer_id"] for p in after["unmapped_payers"]} == {p["payer_id"] for p in unmapped[1:]}


# ---- concurrency ----------------------------------------------------------------------------------------


def test_a_run_holding_the_lock_makes_the_next_end_as_already_running(world):
    world.set_rows(clean_rows(20))
    world.put_lock("someone-else", int(time.time()) + 3600)
    summary = world.sync()
    assert summary["status"] == "ALREADY_RUNNING" and summary["execution_status"] == "SUCCEEDED"
    assert world.lock()["owner"]["S"] == "someone-else", "the other run's lock is untouched"
    assert world.claims_in_salesforce() == {}


def test_two_concurrent_executions_one_runs_one_is_already_running(world):
    rows = clean_rows(50)
    world.set_rows(rows)
    world.cmd("POST", "/config", json={"running_polls": 6})  # the first run holds the lock a while
    before = salesforce_counters(world.endpoints)
    first = start_sync(world.endpoints, name="concurrent-a")
    second = start_sync(world.endpoints, name="concurrent-b")
    follow(world.endpoints, first, deadline_s=240)
    follow(world.endpoints, second, deadline_s=240)
    statuses = sorted(run_summary(world.endpoints, arn, before, 0.0)["status"] for arn in (first, second))
    assert statuses == ["ALREADY_RUNNING", "SUCCEEDED"]
    assert world.lock() is None


def test_a_stale_lock_from_a_crashed_run_expires(world):
    rows = clean_rows(20)
    world.set_rows(rows)
    world.put_lock("crashed-run", int(time.time()) - 1)
    summary = world.sync()
    assert_invariants(world, summary, rows)
    assert summary["status"] == "SUCCEEDED" and summary["succeeded"] == 20


# ---- CollaborateMD faults ---------------------------------------------------------------------------------


def test_collaboratemd_5xx_then_recovery(world):
    rows = clean_rows(30)
    world.set_rows(rows)
    world.cmd("POST", "/faults", json={"kind": "http_status", "status": 503, "count": 2, "on": "run"})
    world.cmd("POST", "/faults", json={"kind": "http_status", "status": 500, "count": 1, "on": "results"})
    summary = world.sync()
    assert_invariants(world, summary, rows)
    assert summary["status"] == "SUCCEEDED" and summary["succeeded"] == 30
    assert world.cmd("GET", "/calls")["injected_http_status"] == 3, "all three 5xx were served and retried"


def test_report_running_on_start_is_retried(world):
    rows = clean_rows(30)
    world.set_rows(rows)
    world.cmd("POST", "/faults", json={"kind": "start_status", "status": "REPORT RUNNING", "count": 2})
    summary = world.sync()
    assert_invariants(world, summary, rows)
    assert summary["status"] == "SUCCEEDED"
    assert world.cmd("GET", "/calls")["run"] >= 3


@pytest.mark.parametrize(
    ("fault", "error", "cause"),
    [
        (
            {"kind": "results_status", "status": "REPORT TIMED OUT", "count": 1},
            "CmdReportFailed",
            "REPORT TIMED OUT",
        ),
        ({"kind": "results_status", "status": "ERROR", "count": 1}, "CmdReportFailed", "ERROR"),
        ({"kind": "malformed_member", "count": 1}, "ReportFormatError", "is not valid"),
    ],
)
def test_report_failures_fail_the_run_cleanly(world, fault, error, cause):
    rows = clean_rows(30)
    world.set_rows(rows)
    world.sync()
    checkpoint = world.checkpoint()
    world.cmd("POST", "/faults", json=fault)
    summary = world.sync(full=True)
    assert_invariants(world, summary, rows)
    assert summary["status"] == "FAILED" and summary["error"] == error and cause in summary["cause"]
    assert world.checkpoint() == checkpoint, "the checkpoint does not move on a failed run"
    record = world.item("RUN", summary["execution"])
    assert record["status"]["S"] == "FAILED" and record["failed_state"]["S"] == "GatherSources"
    assert record["error"]["S"] == error


# ---- Salesforce faults -------------------------------------------------------------------------------------


def test_unable_to_lock_row_rows_are_retried_and_land(world):
    rows = clean_rows(400)
    world.set_rows(rows)
    world.configure(collections_max_rows=50)
    world.sf("POST", "/faults", json={"kind": "lock_row", "share": 0.1, "seed": 4, "max_per_record": 1})
    summary = world.sync()
    assert_invariants(world, summary, rows)
    assert summary["status"] == "SUCCEEDED" and summary["succeeded"] == 400 and summary["failed"] == 0
    assert len(world.claims_in_salesforce()) == 400
    kinds = world.sf_counters()["by_kind"]
    assert kinds["bulk_create_job"] == 1 and kinds.get("composite_upsert", 0) >= 1, (
        "the locked rows were resent"
    )


def test_rows_failing_past_the_retry_rounds_are_reported_and_resent_next_run(world):
    rows = clean_rows(300)
    world.set_rows(rows)
    world.configure(collections_max_rows=50, transient_retry_rounds=1)
    world.sf("POST", "/faults", json={"kind": "lock_row", "share": 0.05, "seed": 8, "max_per_record": 5})
    summary = world.sync()
    assert_invariants(world, summary, rows)
    assert summary["status"] == "PARTIAL" and summary["failed"] > 0
    assert summary["failure_codes"] == {"UNABLE_TO_LOCK_ROW": summary["failed"]}
    failures = list(csv.DictReader(io.StringIO(world.s3_text(summary["reports"]["failures"]))))
    assert len(failures) == summary["failed"]

    world.sf("DELETE", "/faults")
    retry = world.sync()
    assert_invariants(world, retry, rows)
    assert retry["sent"] == summary["failed"] and retry["failed"] == 0, (
        "failed claims are retried by the next run"
    )


def test_request_limit_exceeded_fails_the_run_after_retries(world):
    rows = clean_rows(30)
    world.set_rows(rows)
    world.sf("POST", "/limits", json={"daily_api_limit": 1000, "used": 1000})
    summary = world.sync()
    assert_invariants(world, summary, rows)
    assert summary["status"] == "FAILED" and summary["error"] == "SalesforceLimitExceeded"
    assert world.checkpoint() is None
    world.sf("POST", "/limits", json={"daily_api_limit": 100000, "used": 0})


def test_an_expired_session_is_renewed_once_mid_run(world):
    rows = clean_rows(30)
    world.set_rows(rows)
    world.sync()  # warms the handlers: each function's execution environment keeps its own session
    world.set_rows(mutate_rows(rows, 0.5, 1)[0])
    world.sf("POST", "/expire-tokens")
    before = salesforce_counters(world.endpoints)
    invocations_before = len(world.aws.reports())
    summary = world.sync()
    assert summary["status"] == "SUCCEEDED" and summary["succeeded"] == 15
    # Each warm environment that talks to Salesforce renews its own session, once (as on Lambda,
    # where functions never share an execution environment).
    renewing = {r.function_name for r in world.aws.reports()[invocations_before:]} & SALESFORCE_FUNCTIONS
    assert renewing
    assert salesforce_counters(world.endpoints)["logins"] - before["logins"] == len(renewing)


def test_salesforce_503_is_retried(world):
    rows = clean_rows(200)
    world.set_rows(rows)
    world.configure(collections_max_rows=10)
    world.sf("POST", "/faults", json={"kind": "unavailable", "on": "bulk_upload", "count": 1})
    summary = world.sync()
    assert_invariants(world, summary, rows)
    assert summary["status"] == "SUCCEEDED" and summary["succeeded"] == 200
    kinds = world.sf_counters()["by_kind"]
    assert kinds["bulk_create_job"] == 2, "the upload step was retried with a new job (the first was aborted)"


def test_a_failed_bulk_job_is_resubmitted(world):
    rows = clean_rows(200)
    world.set_rows(rows)
    world.configure(collections_max_rows=10)
    world.sf("POST", "/faults", json={"kind": "fail_job"})
    summary = world.sync()
    assert_invariants(world, summary, rows)
    assert summary["status"] == "SUCCEEDED" and summary["succeeded"] == 200
    kinds = world.sf_counters()["by_kind"]
    assert kinds["bulk_create_job"] == 2, "the failed job's rows went into a second job"


# ---- input --------------------------------------------------------------------------------------------------


def test_unknown_input_is_rejected_with_a_clear_error(world):
    from local.syncrun import start_execution

    before = salesforce_counters(world.endpoints)
    arn = start_execution(world.endpoints, {"Comment": "Insert your JSON here"})
    follow(world.endpoints, arn, deadline_s=60)
    summary = run_summary(world.endpoints, arn, before, 0.0)
    assert summary["status"] == "FAILED" and summary["error"] == "InvalidInput"
    assert "unknown input keys ['Comment']" in summary["cause"]
    assert world.lock() is None
