"""``POST /batch/accounts`` through real HTTP: per-record validation, Collections in chunks of 200, order."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, ok, refused

pytestmark = pytest.mark.api


def test_partial_success_is_reported_per_record_in_input_order(api: Api) -> None:
    records: list[object] = [{"Name": f"Batch {i:03d}"} for i in range(450)]
    invalid_at = {
        7: {"Colour": "red"},
        205: {"Name": "x", "NumberOfEmployees": "many"},
        449: "not a record",
        300: {},
    }
    for i, bad in invalid_at.items():
        records[i] = bad
    before = api.sf_counters()["by_kind"].get("composite_create", 0)

    data = ok(api.post("/batch/accounts", json=records), 201)

    assert data["total"] == 450 and data["successful"] == 446 and data["failed"] == 4
    results = data["results"]
    assert len(results) == 450
    for i, result in enumerate(results):
        assert set(result) == {"success", "record_id", "error"}
        if i in invalid_at:
            assert result["success"] is False and result["record_id"] is None
            assert result["error"].startswith("VALIDATION_ERROR")
        else:
            assert (
                result["success"] is True
                and result["record_id"].startswith("001")
                and result["error"] is None
            )
    assert "Colour" in results[7]["error"] and "NumberOfEmployees" in results[205]["error"]
    # 446 valid records: three Collections calls of at most 200, nothing sent for invalid ones.
    assert api.sf_counters()["by_kind"]["composite_create"] - before == 3
    # Input order: record i is "Batch i".
    for i in (0, 199, 200, 448):
        assert ok(api.get(f"/accounts/{results[i]['record_id']}"))["Name"] == f"Batch {i:03d}"


def test_all_invalid_sends_nothing(api: Api) -> None:
    before = api.sf_counters()["api_requests"]
    data = ok(api.post("/batch/accounts", json=[{"Phone": "1"}, {"Name": ""}]), 201)
    assert data["successful"] == 0 and data["failed"] == 2
    assert api.sf_counters()["api_requests"] == before


def test_batch_over_the_maximum_is_413(api: Api) -> None:
    limit = api.server.settings.batch_max
    refused(api.post("/batch/accounts", json=[{"Name": "x"}] * (limit + 1)), 413, "PAYLOAD_TOO_LARGE")
    ok(api.post("/batch/accounts", json=[{"Name": "x"}] * limit), 201)


def test_batch_must_be_a_non_empty_list(api: Api) -> None:
    refused(api.post("/batch/accounts", json=[]), 400, "MISSING_PARAMETERS")
    refused(api.post("/batch/accounts", json={"Name": "x"}), 400, "VALIDATION_ERROR")


def test_salesforce_failing_the_first_call_fails_the_request(api: Api) -> None:
    api.admin("POST", "/faults", json={"kind": "unavailable", "on": "composite_create", "count": 1})
    refused(api.post("/batch/accounts", json=[{"Name": "x"}]), 502, "UPSTREAM_ERROR")
    assert ok(api.post("/batch/accounts", json=[{"Name": "x"}]), 201)["successful"] == 1
