"""``POST /query`` through real HTTP: the SOQL guard, the LIMIT rule, paging with the opaque cursor."""

from __future__ import annotations

import base64

import pytest

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
        "",
        "A" * 500,
    ],
)
def test_cursors_the_api_did_not_issue_are_refused(api: Api, cursor: str) -> None:
    before = api.sf_counters()["api_requests"]
    refused(api.post("/query", json={"next": cursor}), 400, "QUERY_ERROR")
    assert api.sf_counters()["api_requests"] == before


def test_a_well_formed_but_unknown_cursor_is_salesforces_query_error(api: Api) -> None:
    url = b"/services/data/v62.0/query/01g5g0000000000AAA-2000"
    message = refused(
        api.post("/query", json={"next": base64.urlsafe_b64encode(url).decode()}), 400, "QUERY_ERROR"
    )
    assert "INVALID_QUERY_LOCATOR" in message
