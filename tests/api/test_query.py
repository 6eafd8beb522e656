"""``POST /query`` through real HTTP: the SOQL guard, the LIMIT rule, paging with the opaque cursor."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from typing import Any

import pytest

from claimsync.crm import CursorCodec
from tests.api.conftest import Api, ok, refused

pytestmark = pytest.mark.api


def _seed_accounts(api: Api, n: int) -> None:
    gw = api.seed_gateway()
    for start in range(0, n, 200):
        results = gw.collections_create(
            "Account",
            [{"Name": f"Seed {i:05d}", "BillingCity": "Reno"} for i in range(start, min(n, start + 200))],
        )
        assert all(r.success for r in results)


def test_select_returns_records_without_attributes(api: Api) -> None:
    account_id = ok(api.post("/accounts", json={"Name": "Acme"}), 201)["record_id"]
    ok(api.post("/contacts", json={"FirstName": "A", "LastName": "B", "AccountId": account_id}), 201)
    data = ok(api.post("/query", json={"soql": "SELECT Id, Name FROM Account WHERE Name = 'Acme'"}))
    assert data == {"total_size": 1, "done": True, "records": [{"Id": account_id, "Name": "Acme"}]}
    data = ok(api.post("/query", json={"soql": "SELECT LastName, Account.Name FROM Contact"}))
    assert data["records"] == [{"LastName": "B", "Account": {"Name": "Acme"}}]  # nested attributes gone too


@pytest.mark.parametrize(
    ("soql", "why"),
    [
        ("SELECT Id FROM User", "not allowed"),
        ("SELECT Id FROM Claim__c", "not allowed"),
        ("select id from user", "not allowed"),
        ("SELECT Owner.Email FROM Account", "relationship Owner"),
        ("SELECT Account.Owner.Username FROM Contact", "relationship Owner"),
        ("SELECT Id FROM Account; DELETE FROM Account", "semicolons"),
        ("SELECT Id FROM Account;", "semicolons"),
        ("DELETE FROM Account", "only SELECT"),
        ("UPDATE Account SET Name = 'x'", "only SELECT"),
        ("INSERT INTO Account (Name) VALUES ('x')", "only SELECT"),
        ("SELECT Id FROM Account FOR UPDATE", "FOR"),
        ("SELECT Id FROM Account FOR VIEW", "FOR"),
        ("SELECT Id FROM Account UPDATE TRACKING", "UPDATE"),
        ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "subqueries"),
        ("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)", "subqueries"),
        ("SELECT TYPEOF What WHEN Account THEN Name END FROM Event", "TYPEOF"),
        ("SELECT Id FROM Account LIMIT 2501", "at most 2500"),
        ("SELECT Id FROM Account LIMIT :n", "whole number"),
        ("SELECT Id FROM Account WHERE Name = 'unterminated", "unterminated"),
        ("SELECT Id", "FROM exactly one object"),
        ("Hello", "only SELECT"),
    ],
)
def test_guard_refuses(api: Api, soql: str, why: str) -> None:
    before = api.sf_counters()["api_requests"]
    message = refused(api.post("/query", json={"soql": soql}), 400, "QUERY_ERROR")
    assert why in message, message
    assert api.sf_counters()["api_requests"] == before


def test_words_inside_literals_do_not_count(api: Api) -> None:
    ok(api.post("/accounts", json={"Name": "Delete; FOR UPDATE (SELECT)"}), 201)
    data = ok(
        api.post(
            "/query", json={"soql": "SELECT Name FROM Account WHERE Name = 'Delete; FOR UPDATE (SELECT)'"}
        )
    )
    assert data["total_size"] == 1


def test_salesforce_query_errors_are_query_errors_with_its_message(api: Api) -> None:
    message = refused(
        api.post("/query", json={"soql": "SELECT NoSuchField FROM Account"}), 400, "QUERY_ERROR"
    )
    assert "INVALID_FIELD" in message and "NoSuchField" in message
    refused(api.post("/query", json={"soql": "SELECT Id FROM Account WHERE"}), 400, "QUERY_ERROR")


def test_bad_query_requests(api: Api) -> None:
    refused(api.post("/query", json={}), 400, "MISSING_PARAMETERS")
    refused(api.post("/query", json={"soql": "  "}), 400, "MISSING_PARAMETERS")
    refused(api.post("/query", json={"soql": 5}), 400, "VALIDATION_ERROR")
    refused(api.post("/query", json={"soql": "SELECT Id FROM Account", "q": 1}), 400, "VALIDATION_ERROR")
    refused(api.post("/query", json=["SELECT Id FROM Account"]), 400, "VALIDATION_ERROR")


def test_paging_across_more_than_2000_records_with_the_cursor(api: Api) -> None:
    _seed_accounts(api, 2600)
    # No LIMIT given: the API adds LIMIT 2500 (the configured maximum).
    first = ok(api.post("/query", json={"soql": "SELECT Id, Name FROM Account ORDER BY Name"}))
    assert first["total_size"] == 2500 and first["done"] is False and len(first["records"]) == 2000
    assert "next" in first and "/services" not in first["next"]  # opaque
    second = ok(api.post("/query", json={"next": first["next"]}))
    assert second["done"] is True and "next" not in second and len(second["records"]) == 500
    names = [r["Name"] for r in first["records"] + second["records"]]
    assert names == [f"Seed {i:05d}" for i in range(2500)]

    # A LIMIT within the maximum is kept; OFFSET stays after the added LIMIT.
    small = ok(api.post("/query", json={"soql": "SELECT Name FROM Account ORDER BY Name LIMIT 3"}))
    assert [r["Name"] for r in small["records"]] == ["Seed 00000", "Seed 00001", "Seed 00002"]
    offset = ok(api.post("/query", json={"soql": "SELECT Name FROM Account ORDER BY Name OFFSET 5"}))
    assert offset["records"][0]["Name"] == "Seed 00005"


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        base64.urlsafe_b64encode(b"https://attacker.example/steal").decode(),
        base64.urlsafe_b64encode(b"/services/data/v62.0/sobjects/User/005000000000001").decode(),
        base64.urlsafe_b64encode(b"/services/data/v62.0/query/01g000000000001-2000/../../limits").decode(),
        # The pre-signing format: a bare, well-formed query locator is no cursor any more.
        base64.urlsafe_b64encode(b"/services/data/v62.0/query/01g5g0000000000AAA-2000").decode(),
        "",
        "A" * 500,
        "c1." + "A" * 401 + "." + "B" * 43,
        "c1.e30.",
        12,
        ["c1.e30.AAAA"],
        {"o": "Account"},
    ],
)
def test_cursors_the_api_did_not_issue_are_refused(api: Api, cursor: object) -> None:
    before = api.sf_counters()["api_requests"]
    refused(api.post("/query", json={"next": cursor}), 400, "QUERY_ERROR")
    assert api.sf_counters()["api_requests"] == before


def test_a_signed_cursor_for_an_unknown_locator_is_salesforces_query_error(api: Api) -> None:
    cursor = _codec(api).issue("Account", "/services/data/v62.0/query/01g5g0000000000AAA-2000")
    message = refused(api.post("/query", json={"next": cursor}), 400, "QUERY_ERROR")
    assert "INVALID_QUERY_LOCATOR" in message


# -- forged cursors (issue 10, item 1) ----------------------------------------------------------------


def _codec(api: Api, **changes: Any) -> CursorCodec:
    return replace(CursorCodec(api.server.cursor_key, ttl_s=api.server.settings.cursor_ttl_s), **changes)


def _claim_locator(api: Api) -> str:
    """A live query locator of the integration user over Claim__c (PHI): what an attacker would try."""
    gw = api.seed_gateway()
    for start in range(0, 2100, 200):
        results = gw.collections_upsert(
            "Claim__c",
            "Claim_Number__c",
            [
                {"Claim_Number__c": f"C{i:05d}", "Patient_Name__c": f"Patient {i}"}
                for i in range(start, start + 200)
            ],
        )
        assert all(r.success for r in results)
    page = gw.query_page("SELECT Id, Patient_Name__c FROM Claim__c")
    assert page["done"] is False
    url: str = page["nextRecordsUrl"]
    return url


def _refused_without_rows(api: Api, cursor: str, *, salesforce_called: bool = False) -> str:
    before = api.sf_counters()["api_requests"]
    resp = api.post("/query", json={"next": cursor})
    message = refused(resp, 400, "QUERY_ERROR")
    assert "Patient" not in resp.text and "records" not in resp.json()
    assert api.sf_counters()["api_requests"] == before + (1 if salesforce_called else 0)
    return message


def test_a_cursor_made_from_a_claim_locator_is_refused(api: Api) -> None:
    locator = _claim_locator(api)
    # The bare locator, in the old cursor format.
    _refused_without_rows(api, base64.urlsafe_b64encode(locator.encode()).decode().rstrip("="))
    # Wrapped like a real cursor but signed with a key that is not the API's.
    _refused_without_rows(api, _codec(api, key=b"k" * 32).issue("Account", locator))
    _refused_without_rows(api, _codec(api, key=b"k" * 32).issue("Claim__c", locator))
    # Even with the API's own key (a leaked key, a bug): Claim__c is not an allowed object ...
    message = _refused_without_rows(api, _codec(api).issue("Claim__c", locator))
    assert "Claim__c is not allowed" in message
    # ... and a page whose records are not of the cursor's object is refused after Salesforce answered.
    message = _refused_without_rows(api, _codec(api).issue("Account", locator), salesforce_called=True)
    assert message == "the query returned records this API does not serve"


def test_a_tampered_cursor_is_refused(api: Api) -> None:
    _seed_accounts(api, 2100)
    cursor = ok(api.post("/query", json={"soql": "SELECT Id, Name FROM Account"}))["next"]
    version, payload, tag = cursor.split(".")
    flipped_tag = tag[:-2] + ("A" if tag[-2] != "A" else "B") + tag[-1]
    flipped_payload = ("A" if payload[0] != "A" else "B") + payload[1:]
    for forged in (
        f"{version}.{payload}.{flipped_tag}",
        f"{version}.{flipped_payload}.{tag}",
        f"c2.{payload}.{tag}",
        f"{version}.{payload}",
        cursor + "A",
        cursor[:-1],
    ):
        _refused_without_rows(api, forged)
    assert len(ok(api.post("/query", json={"next": cursor}))["records"]) == 100  # the genuine one works


def test_rewriting_the_offset_of_a_cursor_is_refused(api: Api) -> None:
    _seed_accounts(api, 2100)
    cursor = ok(api.post("/query", json={"soql": "SELECT Id, Name FROM Account"}))["next"]
    version, payload, tag = cursor.split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert fields["l"].endswith("-2000")
    for offset in ("0", "1000", "2050"):
        changed = {**fields, "l": fields["l"].rsplit("-", 1)[0] + "-" + offset}
        raw = json.dumps(changed, separators=(",", ":"), sort_keys=True).encode()
        forged = f"{version}.{base64.urlsafe_b64encode(raw).decode().rstrip('=')}.{tag}"
        _refused_without_rows(api, forged)
    for other in ({**fields, "o": "Contact"}, {**fields, "x": fields["x"] + 3600}):
        raw = json.dumps(other, separators=(",", ":"), sort_keys=True).encode()
        _refused_without_rows(api, f"{version}.{base64.urlsafe_b64encode(raw).decode().rstrip('=')}.{tag}")


def test_an_expired_cursor_is_refused(api: Api) -> None:
    _seed_accounts(api, 2100)
    gw = api.seed_gateway()
    locator = gw.query_page("SELECT Id, Name FROM Account")["nextRecordsUrl"]
    ttl = api.server.settings.cursor_ttl_s
    expired = _codec(api, clock=lambda: time.time() - ttl - 1).issue("Account", locator)
    assert "expired" in _refused_without_rows(api, expired)
    fresh = _codec(api, clock=lambda: time.time() - ttl + 60).issue("Account", locator)
    assert len(ok(api.post("/query", json={"next": fresh}))["records"]) == 100
