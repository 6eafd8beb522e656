"""Daily API allocation, the Sforce-Limit-Info header, admin counters, restarts and robustness."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceRefusedRequest

from local.salesforce_emulator.server import SalesforceCredentials, SalesforceEmulator
from local.tls import TlsMaterial

from .conftest import API_VERSION, client_credentials_token, new_session, write_csv

pytestmark = pytest.mark.contract

Api = Callable[..., requests.Response]


def test_limit_header_and_limits_resource(sf: Salesforce, api: Api) -> None:
    r = api("GET", "limits")
    assert r.status_code == 200
    used, total = r.headers["Sforce-Limit-Info"].removeprefix("api-usage=").split("/")
    assert int(total) == 100_000 and int(used) >= 1
    daily = r.json()["DailyApiRequests"]
    assert daily["Max"] == 100_000 and daily["Remaining"] == 100_000 - int(used)
    sf.query("SELECT Id FROM Account")
    assert sf.api_usage["api-usage"].used == int(used) + 1


def test_request_limit_exceeded(clean: SalesforceEmulator, sf: Salesforce, http: requests.Session) -> None:
    http.post(clean.admin_url + "/limits", json={"daily_api_limit": 5, "used": 4})
    sf.query("SELECT Id FROM Account")  # the 5th call of the day
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf.query("SELECT Id FROM Account")
    assert info.value.status == 403
    assert info.value.content == [
        {"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}
    ]


def test_counters_by_kind(
    clean: SalesforceEmulator, sf: Salesforce, http: requests.Session, tmp_path: Path
) -> None:
    http.post(clean.admin_url + "/counters/reset")
    rid = sf.Account.create({"Name": "A"})["id"]
    sf.Account.get(rid)
    sf.query("SELECT Id FROM Account")
    sf.bulk2.Claim__c.upsert(
        csv_file=write_csv(tmp_path / "c.csv", "Claim_Number__c\nA\n"),
        external_id_field="Claim_Number__c",
        wait=0.05,
    )
    counters = http.get(clean.admin_url + "/counters").json()
    kinds = counters["by_kind"]
    assert kinds["sobject_create"] == 1 and kinds["sobject_get"] == 1 and kinds["query"] == 1
    assert kinds["bulk_create_job"] == 1 and kinds["bulk_upload"] == 1 and kinds["bulk_close"] == 1
    assert kinds["bulk_get_job"] >= 2
    assert counters["api_requests"] == sum(kinds.values())
    assert http.get(clean.admin_url + "/records/Account").json()["records"][0]["Id"] == rid


def test_unavailable_any_kind(clean: SalesforceEmulator, api: Api, http: requests.Session) -> None:
    http.post(clean.admin_url + "/faults", json={"kind": "unavailable", "on": "*", "count": 1})
    r = api("GET", "limits")
    assert r.status_code == 503 and r.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert api("GET", "limits").status_code == 200
    bad = http.post(clean.admin_url + "/faults", json={"nonsense": 1})
    assert bad.status_code == 400


def test_data_tokens_and_usage_survive_restart(
    tmp_path: Path, tls: TlsMaterial, creds: SalesforceCredentials
) -> None:
    state = tmp_path / "state"
    first = SalesforceEmulator(state, tls, creds).start()
    s = new_session(tls)
    token = client_credentials_token(first, creds, s)
    sf = Salesforce(instance_url=first.instance_url, session_id=token, session=s, version=API_VERSION)
    rid = sf.Claim__c.create({"Claim_Number__c": "KEEP"})["id"]
    (job,) = sf.bulk2.Claim__c.upsert(
        csv_file=write_csv(tmp_path / "c.csv", "Claim_Number__c\nKEEP2\n"),
        external_id_field="Claim_Number__c",
        wait=0.05,
    )
    used = int(s.get(first.admin_url + "/limits").json()["used"])
    first.stop()

    second = SalesforceEmulator(state, tls, creds).start()
    try:
        sf = Salesforce(instance_url=second.instance_url, session_id=token, session=s, version=API_VERSION)
        assert sf.Claim__c.get(rid)["Claim_Number__c"] == "KEEP"
        assert sf.query("SELECT COUNT() FROM Claim__c")["totalSize"] == 2
        assert sf.bulk2.Claim__c.get_successful_records(job["job_id"]).count("\n") == 2
        assert int(s.get(second.admin_url + "/limits").json()["used"]) >= used + 3
        new_id = sf.Claim__c.create({"Claim_Number__c": "NEW"})["id"]
        assert new_id != rid
    finally:
        second.stop()


BAD_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "sobjects/Account", {"data": b"\xff\xfe"}),
    ("POST", "sobjects/Account", {"data": ""}),
    ("POST", "sobjects/Account", {"data": "null"}),
    ("POST", "sobjects/Account", {"json": {"Name": {"nested": True}}}),
    ("POST", "sobjects/Account", {"json": {"Name": ["a"]}}),
    ("POST", "sobjects/Account", {"json": {"Name": "A", "AnnualRevenue": "NaN"}}),
    ("POST", "sobjects/Account", {"data": '{"Name": "A", "AnnualRevenue": 1e400}'}),
    ("POST", "sobjects/Account", {"data": '{"Name": "A", "AnnualRevenue": Infinity}'}),
    ("PATCH", "sobjects/Account/001", {"json": {}}),
    ("PATCH", "sobjects/Claim__c/Claim_Number__c/", {"json": {}}),
    ("GET", "sobjects/Account/%00%00%00", {}),
    ("PUT", "sobjects/Account", {"json": {}}),
    ("GET", "query", {"params": {"q": "SELECT"}}),
    ("GET", "query", {"params": {"q": "SELECT Id FROM Account WHERE Name = '"}}),
    ("GET", "query/not-a-locator", {}),
    ("POST", "composite/sobjects", {"json": {"records": "x"}}),
    ("POST", "composite/sobjects", {"json": {"records": [1, None, "x"]}}),
    ("PATCH", "composite/sobjects", {"json": {"records": [{"Name": "x"}]}}),
    (
        "PATCH",
        "composite/sobjects/Claim__c/Claim_Number__c",
        {"json": {"records": [{"Claim_Number__c": {"a": 1}}]}},
    ),
    ("POST", "jobs/ingest", {"data": "[]"}),
    ("POST", "jobs/ingest", {"json": {"object": 5, "operation": "insert"}}),
    ("PATCH", "jobs/ingest/whatever", {"json": {"state": "UploadComplete"}}),
    ("PATCH", "jobs/ingest/whatever", {"json": "UploadComplete"}),
    ("PUT", "jobs/ingest/whatever/batches", {"data": "a\n1\n", "headers": {"Content-Type": "text/csv"}}),
    ("GET", "jobs/ingest/whatever/successfulResults", {}),
    ("DELETE", "composite/sobjects", {"params": {"ids": "garbage"}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), BAD_REQUESTS)
def test_bad_input_never_answers_500(api: Api, method: str, path: str, kwargs: dict[str, Any]) -> None:
    r = api(method, path, **kwargs)
    assert r.status_code < 500, r.text
    body = r.json()
    if r.status_code >= 400:
        assert isinstance(body, list) and body[0]["errorCode"] and body[0]["message"]
    assert "Traceback" not in r.text


def test_unexpected_error_is_a_salesforce_shaped_500(
    clean: SalesforceEmulator, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(clean.store, "get", boom)
    r = api("GET", "sobjects/Account/0015g0000000001AAA")
    assert r.status_code == 500
    (err,) = r.json()
    assert err["errorCode"] == "UNKNOWN_EXCEPTION"
    assert "secret internals" not in r.text and "Traceback" not in r.text


def test_oauth_bad_input(clean: SalesforceEmulator, http: requests.Session) -> None:
    for data in (
        {},
        {"grant_type": ""},
        {"grant_type": "password"},
        {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"},
    ):
        r = http.post(clean.token_url, data=data)
        assert r.status_code == 400 and "error" in r.json()
    r = http.post(
        clean.token_url, data=b"\xff\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 400
    assert http.get(clean.token_url).status_code == 405
