"""The fault matrix: every fault both emulators can inject, each followed by a normal run.

For each case: a full sync runs with the fault injected (it may succeed through retries, finish
PARTIAL, or fail); the fault is cleared, the next day's report arrives (some claims changed) and a
normal incremental run follows. Both runs keep the accounting exactly (``assert_invariants``); the
normal run is never blocked by what the faulted one left behind (a lock, a running report, an open
Bulk job); and afterwards Salesforce holds exactly the valid claims of the report with exactly their
values: 0 lost, 0 duplicated, 0 wrong.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from claimsync.mapping_file import load_mapping
from claimsync.payors import PayorIndex
from claimsync.transform import ClaimRecord, claim_keys, find_superseded, transform_page
from local.collaboratemd_emulator.generator import mutate_rows
from local.world import salesforce_gateway
from tests.sync.conftest import assert_invariants, clean_rows

pytestmark = pytest.mark.workflow

MAPPING = load_mapping()
CLAIMS = 60

# (system, fault body, settings overrides): each fault once; Bulk faults on the Bulk path
CMD = "collaboratemd"
SF = "salesforce"
BULK = {"collections_max_rows": 10}
CASES: dict[str, tuple[str, Any, dict[str, Any]]] = {
    "cmd-503-on-start": (CMD, {"kind": "http_status", "status": 503, "count": 2, "on": "run"}, {}),
    "cmd-500-on-results": (CMD, {"kind": "http_status", "status": 500, "count": 2, "on": "results"}, {}),
    "cmd-503-until-retries-exhausted": (
        CMD,
        {"kind": "http_status", "status": 503, "count": 50, "on": "results"},
        {},
    ),
    "cmd-slow-response": (CMD, {"kind": "delay", "seconds": 0.5, "count": 2, "on": "*"}, {}),
    "cmd-report-running-on-start": (
        CMD,
        {"kind": "start_status", "status": "REPORT RUNNING", "count": 2},
        {},
    ),
    "cmd-error-on-start": (CMD, {"kind": "start_status", "status": "ERROR", "count": 1}, {}),
    "cmd-report-timed-out": (CMD, {"kind": "results_status", "status": "REPORT TIMED OUT", "count": 1}, {}),
    "cmd-error-on-results": (CMD, {"kind": "results_status", "status": "ERROR", "count": 1}, {}),
    "cmd-corrupt-zip-once": (CMD, {"kind": "corrupt_zip", "count": 1}, {}),
    "cmd-corrupt-zip-always": (CMD, {"kind": "corrupt_zip", "count": 10}, {}),
    "cmd-malformed-member": (CMD, {"kind": "malformed_member", "count": 1}, {}),
    "sf-lock-row-retried": (
        SF,
        {"kind": "lock_row", "share": 0.2, "seed": 3, "max_per_record": 1},
        BULK,
    ),
    "sf-lock-row-past-retries": (
        SF,
        {"kind": "lock_row", "share": 0.1, "seed": 5, "max_per_record": 9},
        BULK,
    ),
    "sf-lock-row-collections": (
        SF,
        {"kind": "lock_row", "share": 0.2, "seed": 7, "max_per_record": 9},
        {},
    ),
    "sf-failed-bulk-job": (SF, {"kind": "fail_job"}, BULK),
    "sf-503-login": (SF, {"kind": "unavailable", "on": "oauth_token", "count": 2}, {}),
    "sf-503-query": (SF, {"kind": "unavailable", "on": "query", "count": 2}, {}),
    "sf-503-query-until-retries-exhausted": (SF, {"kind": "unavailable", "on": "query", "count": 100}, {}),
    "sf-503-create-job": (SF, {"kind": "unavailable", "on": "bulk_create_job", "count": 1}, BULK),
    "sf-503-upload": (SF, {"kind": "unavailable", "on": "bulk_upload", "count": 1}, BULK),
    "sf-503-close": (SF, {"kind": "unavailable", "on": "bulk_close", "count": 1}, BULK),
    "sf-503-poll": (SF, {"kind": "unavailable", "on": "bulk_get_job", "count": 2}, BULK),
    "sf-503-results": (  # results are read only when a job failed rows: some fail once
        SF,
        [
            {"kind": "lock_row", "share": 0.1, "seed": 5, "max_per_record": 1},
            {"kind": "unavailable", "on": "bulk_results", "count": 1},
        ],
        BULK,
    ),
    "sf-503-collections": (SF, {"kind": "unavailable", "on": "composite_upsert", "count": 1}, {}),
    "sf-503-everything-until-retries-exhausted": (SF, {"kind": "unavailable", "on": "*", "count": 400}, BULK),
    "sf-answer-lost-create-job": (SF, {"kind": "drop_answer", "on": "bulk_create_job", "count": 1}, BULK),
    "sf-answer-lost-upload": (SF, {"kind": "drop_answer", "on": "bulk_upload", "count": 1}, BULK),
    "sf-answer-lost-collections": (SF, {"kind": "drop_answer", "on": "composite_upsert", "count": 1}, {}),
    "sf-answer-slow-poll": (
        SF,
        {"kind": "slow_answer", "on": "bulk_get_job", "count": 1, "seconds": 2},
        BULK,
    ),
    "sf-request-limit": (SF, "limit", {}),
    "sf-expired-session": (SF, "expire", BULK),
}


def inject(world, system: str, fault: Any) -> None:
    if fault == "limit":
        world.sf("POST", "/limits", json={"daily_api_limit": 1000, "used": 1000})
    elif fault == "expire":
        world.sf("POST", "/expire-tokens")
    else:
        world._admin(system, "POST", "/faults", json=fault)


def clear(world) -> None:
    world.cmd("DELETE", "/faults")
    world.sf("DELETE", "/faults")
    world.sf("POST", "/limits", json={"daily_api_limit": 100000, "used": 0})
    world.cmd("POST", "/running", json={"remaining_polls": 1})  # a report left running finishes soon


def expected_records(world, rows: list[dict[str, str]]) -> dict[str, dict[str, str | None]]:
    gw = salesforce_gateway(world.endpoints)
    payors = PayorIndex.from_records(
        gw.query_all(
            "SELECT CMD_Payer_Id__c, CMD_Payer_Name__c, Claim_Payor__c, Active__c FROM Payor_Mapping__c"
        )
    )
    numbered = list(enumerate(rows, start=1))
    superseded = find_superseded(claim_keys(numbered, MAPPING), 50)
    result = transform_page(numbered, superseded, MAPPING, payors)
    return {r.claim_number.lower(): r.fields for r in result.records if isinstance(r, ClaimRecord)}


def _same(expected: str | None, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual in (None, "")
    if isinstance(actual, bool):
        return expected == ("true" if actual else "false")
    if isinstance(actual, int | float):
        return Decimal(expected) == Decimal(str(actual))
    if "T" in expected and expected.endswith("Z"):
        parse = lambda v: datetime.fromisoformat(v.replace("Z", "+00:00").replace("+0000", "+00:00"))  # noqa: E731
        return parse(expected) == parse(str(actual))
    return expected == actual


def assert_salesforce_holds_exactly(world, rows: list[dict[str, str]]) -> None:
    expected = expected_records(world, rows)
    gw = salesforce_gateway(world.endpoints)
    records = list(gw.query_all(f"SELECT {', '.join(MAPPING.columns)} FROM Claim__c"))  # noqa: S608
    actual: dict[str, dict[str, Any]] = {}
    duplicated = 0
    for record in records:
        key = str(record[MAPPING.external_id_field]).lower()
        duplicated += key in actual
        actual[key] = record
    lost = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    wrong = sorted(
        key
        for key in set(expected) & set(actual)
        if any(not _same(value, actual[key].get(name)) for name, value in expected[key].items())
    )
    assert (len(lost), duplicated, len(extra), len(wrong)) == (0, 0, 0, 0), (
        f"lost {len(lost)}, duplicated {duplicated}, unexpected {len(extra)}, wrong {len(wrong)}"
    )


@pytest.mark.parametrize("case", list(CASES))
def test_fault_then_normal_run(world, case):
    system, fault, overrides = CASES[case]
    world.configure(**overrides)
    rows = clean_rows(CLAIMS, seed=21, unmapped_share=0.1, malformed_share=0.05)
    world.set_rows(rows)
    inject(world, system, fault)
    faulted = world.sync(full=True)
    assert_invariants(world, faulted, rows)
    assert faulted["status"] in ("SUCCEEDED", "PARTIAL", "FAILED"), faulted

    clear(world)
    next_day, _ = mutate_rows(rows, 0.1, 2)
    world.set_rows(next_day)
    normal = world.sync()
    assert_invariants(world, normal, next_day)
    assert normal["status"] in ("SUCCEEDED", "PARTIAL"), f"blocked by the faulted run: {normal}"
    assert normal["failed"] == 0
    if adopted_from(world, normal["execution"]) == faulted["execution"]:
        # The faulted run left its report running and the normal run adopted it: it synced that
        # report, a complete snapshot as of the faulted run's start. The next run catches up.
        assert_salesforce_holds_exactly(world, rows)
        normal = world.sync()
        assert_invariants(world, normal, next_day)
        assert normal["status"] in ("SUCCEEDED", "PARTIAL")
    assert normal["rejected"] == faulted_rejects(next_day)
    assert_salesforce_holds_exactly(world, next_day)


def adopted_from(world, execution: str) -> str:
    """The run whose report this one adopted (StartReport's output), or ""."""
    for event in json.loads(world.history_text(execution)):
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "StartReport":
            return json.loads(details["output"])["request"]["adopted_from"]
    return ""


def faulted_rejects(rows: list[dict[str, str]]) -> int:
    numbered = list(enumerate(rows, start=1))
    superseded = find_superseded(claim_keys(numbered, MAPPING), 50)
    return len(transform_page(numbered, superseded, MAPPING, PayorIndex()).rejected)
