"""Accounts, Contacts and Opportunities through real HTTP: CRUD, validation, record ids, envelopes."""

from __future__ import annotations

import json

import pytest

from claimsync.crm.ids import checksum
from tests.api.conftest import Api, ok, refused

pytestmark = pytest.mark.api


def _account(api: Api, **fields: object) -> str:
    data = ok(api.post("/accounts", json={"Name": "Acme Health", **fields}), 201)
    record_id: str = data["record_id"]
    return record_id


# -- happy paths -----------------------------------------------------------------------------------


def test_account_lifecycle(api: Api) -> None:
    data = ok(
        api.post("/accounts", json={"Name": "Acme Health", "Phone": "555-0100", "BillingCity": "Reno"}), 201
    )
    assert data == {"record_id": data["record_id"], "account_name": "Acme Health"}
    account_id = data["record_id"]
    assert len(account_id) == 18 and account_id.startswith("001")

    record = ok(api.get(f"/accounts/{account_id}"))
    assert record["Id"] == account_id and record["Name"] == "Acme Health" and record["BillingCity"] == "Reno"
    assert "attributes" not in record

    assert ok(api.patch(f"/accounts/{account_id}", json={"Phone": "555-0199"})) == {
        "record_id": account_id,
        "status": "updated",
    }
    record = ok(api.get(f"/accounts/{account_id}"))
    assert record["Phone"] == "555-0199"
    assert record["Name"] == "Acme Health" and record["BillingCity"] == "Reno"  # untouched

    assert ok(api.patch(f"/accounts/{account_id}", json={"BillingCity": None}))["status"] == "updated"
    assert ok(api.get(f"/accounts/{account_id}"))["BillingCity"] is None  # null clears

    assert ok(api.delete(f"/accounts/{account_id}")) == {"record_id": account_id, "status": "deleted"}
    refused(api.get(f"/accounts/{account_id}"), 404, "NOT_FOUND")
    refused(api.delete(f"/accounts/{account_id}"), 404, "NOT_FOUND")


def test_contact_lifecycle(api: Api) -> None:
    account_id = _account(api)
    body = {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.org", "AccountId": account_id}
    data = ok(api.post("/contacts", json=body), 201)
    assert data["contact_name"] == "Ada Lovelace" and data["record_id"].startswith("003")
    contact_id = data["record_id"]
    record = ok(api.get(f"/contacts/{contact_id}"))
    assert record["Email"] == "ada@example.org" and record["AccountId"] == account_id
    ok(api.patch(f"/contacts/{contact_id}", json={"Title": "Analyst"}))
    assert ok(api.get(f"/contacts/{contact_id}"))["Title"] == "Analyst"
    ok(api.delete(f"/contacts/{contact_id}"))
    refused(api.get(f"/contacts/{contact_id}"), 404, "NOT_FOUND")


def test_opportunity_lifecycle(api: Api) -> None:
    body = {"Name": "Renewal", "StageName": "Prospecting", "CloseDate": "2026-03-31", "Amount": 1250.5}
    data = ok(api.post("/opportunities", json=body), 201)
    assert data == {"record_id": data["record_id"], "opportunity_name": "Renewal", "amount": 1250.5}
    opportunity_id = data["record_id"]
    ok(api.patch(f"/opportunities/{opportunity_id}", json={"StageName": "Closed Won"}))
    record = ok(api.get(f"/opportunities/{opportunity_id}"))
    assert (
        record["StageName"] == "Closed Won"
        and record["Amount"] == 1250.5
        and record["CloseDate"] == "2026-03-31"
    )
    ok(api.delete(f"/opportunities/{opportunity_id}"))

    no_amount = ok(api.post("/opportunities", json={**body, "Amount": None}), 201)
    assert no_amount["amount"] is None


def test_a_15_character_id_works_and_comes_back_as_18(api: Api) -> None:
    account_id = _account(api)
    assert ok(api.get(f"/accounts/{account_id[:15]}"))["Id"] == account_id
    assert ok(api.patch(f"/accounts/{account_id[:15]}", json={"Fax": "1"}))["record_id"] == account_id


# -- record ids ------------------------------------------------------------------------------------


def _bad_checksum(record_id: str) -> str:
    wrong = "AAA" if record_id[15:] != "AAA" else "BAA"
    return record_id[:15] + wrong


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_invalid_ids_are_refused_before_salesforce(api: Api, method: str) -> None:
    account_id = _account(api)
    contact_id = ok(api.post("/contacts", json={"FirstName": "A", "LastName": "B"}), 201)["record_id"]
    before = api.sf_counters()["api_requests"]
    cases = {
        "001abc": "15 or 18 characters",
        account_id + "X": "15 or 18 characters",
        account_id[:14]: "15 or 18 characters",
        account_id[:15] + "!!!": "letters and digits",
        "001-5g000000000": "letters and digits",
        _bad_checksum(account_id): "checksum",
        contact_id: "prefix 001",
        contact_id[:15]: "prefix 001",
    }
    for bad, why in cases.items():
        message = refused(api.call(method, f"/accounts/{bad}", json={"Name": "x"}), 400, "INVALID_ID")
        assert why in message, (bad, message)
    assert api.sf_counters()["api_requests"] == before  # nothing reached Salesforce


def test_checksum_catches_a_case_change(api: Api) -> None:
    account_id = _account(api)
    head = account_id[:15]
    i = next(i for i, ch in enumerate(head) if ch.isalpha())
    flipped = head[:i] + head[i].swapcase() + head[i + 1 :]
    message = refused(api.get(f"/accounts/{flipped}{account_id[15:]}"), 400, "INVALID_ID")
    assert "checksum" in message


def test_a_valid_id_of_a_missing_record_is_404(api: Api) -> None:
    missing = "0015g00000ZZZZZ"
    refused(api.get(f"/accounts/{missing + checksum(missing)}"), 404, "NOT_FOUND")
    refused(api.patch(f"/accounts/{missing}", json={"Name": "x"}), 404, "NOT_FOUND")
    refused(api.delete(f"/accounts/{missing}"), 404, "NOT_FOUND")


def test_odd_characters_in_the_path_are_an_invalid_id(api: Api) -> None:
    refused(api.get("/accounts/%C2%84"), 400, "INVALID_ID")
    refused(api.get("/contacts/a%20b"), 400, "INVALID_ID")


# -- validation ------------------------------------------------------------------------------------


def test_required_fields_on_create(api: Api) -> None:
    message = refused(api.post("/accounts", json={"Phone": "1"}), 400, "VALIDATION_ERROR")
    assert "Name" in message
    message = refused(api.post("/contacts", json={"Email": "a@b.co"}), 400, "VALIDATION_ERROR")
    assert "FirstName" in message and "LastName" in message
    message = refused(api.post("/opportunities", json={"Name": "x"}), 400, "VALIDATION_ERROR")
    assert "StageName" in message and "CloseDate" in message
    refused(api.post("/accounts", json={"Name": "   "}), 400, "VALIDATION_ERROR")
    refused(api.post("/accounts", json={"Name": None}), 400, "VALIDATION_ERROR")


def test_unknown_fields_are_named(api: Api) -> None:
    message = refused(
        api.post("/accounts", json={"Name": "x", "Colour": "red", "OwnerId": "1"}), 400, "VALIDATION_ERROR"
    )
    assert "Colour" in message and "OwnerId" in message
    account_id = _account(api)
    message = refused(api.patch(f"/accounts/{account_id}", json={"IsDeleted": True}), 400, "VALIDATION_ERROR")
    assert "IsDeleted" in message
    # Read-only fields are not writable even though GET returns them.
    contact_id = ok(api.post("/contacts", json={"FirstName": "A", "LastName": "B"}), 201)["record_id"]
    assert "Name" in refused(
        api.patch(f"/contacts/{contact_id}", json={"Name": "x"}), 400, "VALIDATION_ERROR"
    )


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/opportunities", {"Amount": "100"}, "Amount"),
        ("/opportunities", {"Amount": True}, "Amount"),
        ("/opportunities", {"Amount": 1e17}, "Amount"),
        ("/opportunities", {"CloseDate": "03/31/2026"}, "CloseDate"),
        ("/opportunities", {"CloseDate": "2026-02-30"}, "CloseDate"),
        ("/opportunities", {"CloseDate": 20260331}, "CloseDate"),
        ("/opportunities", {"StageName": "Won"}, "StageName"),
        ("/opportunities", {"Probability": 101}, "Probability"),
        ("/opportunities", {"AccountId": "003000000000000"}, "AccountId"),
        ("/contacts", {"Email": "not-an-address"}, "Email"),
        ("/contacts", {"Email": "a@b"}, "Email"),
        ("/contacts", {"AccountId": "001"}, "AccountId"),
        ("/contacts", {"Birthdate": "yesterday"}, "Birthdate"),
        ("/contacts", {"LastName": 42}, "LastName"),
        ("/accounts", {"NumberOfEmployees": 12.5}, "NumberOfEmployees"),
        ("/accounts", {"NumberOfEmployees": -1}, "NumberOfEmployees"),
        ("/accounts", {"Name": "x" * 256}, "Name"),
        ("/accounts", {"Phone": ["1"]}, "Phone"),
    ],
)
def test_types_and_formats(api: Api, path: str, body: dict[str, object], field: str) -> None:
    valid = {
        "/opportunities": {"Name": "o", "StageName": "Qualification", "CloseDate": "2026-01-01"},
        "/contacts": {"FirstName": "a", "LastName": "b"},
        "/accounts": {"Name": "a"},
    }[path]
    message = refused(api.post(path, json={**valid, **body}), 400, "VALIDATION_ERROR")
    assert message.startswith(field) or f"{field} " in message, message


def test_every_standard_stage_is_accepted(api: Api) -> None:
    from claimsync.crm.objects import STANDARD_STAGES

    for stage in STANDARD_STAGES:
        ok(api.post("/opportunities", json={"Name": "o", "StageName": stage, "CloseDate": "2026-01-01"}), 201)


def test_salesforce_validation_comes_back_with_its_message(api: Api) -> None:
    account_id = _account(api)
    ok(api.delete(f"/accounts/{account_id}"))
    # A well-formed id of a deleted account: only Salesforce knows the reference is bad.
    message = refused(
        api.post("/contacts", json={"FirstName": "A", "LastName": "B", "AccountId": account_id}),
        400,
        "VALIDATION_ERROR",
    )
    assert "INVALID_CROSS_REFERENCE_KEY" in message


def test_empty_patch_is_refused(api: Api) -> None:
    account_id = _account(api)
    refused(api.patch(f"/accounts/{account_id}", json={}), 400, "MISSING_PARAMETERS")


# -- bodies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/accounts", "/contacts", "/opportunities", "/query", "/batch/accounts"])
def test_missing_or_empty_body(api: Api, path: str) -> None:
    refused(api.post(path), 400, "MISSING_PARAMETERS")
    refused(api.post(path, data=b"   "), 400, "MISSING_PARAMETERS")


@pytest.mark.parametrize("raw", [b"{", b"Name=x", b"{'Name': 'x'}", b'{"Name": NaN}', b"\xff\xfe{}"])
def test_body_that_is_not_json(api: Api, raw: bytes) -> None:
    refused(
        api.post("/accounts", data=raw, headers={"Content-Type": "application/json"}), 400, "INVALID_JSON"
    )


def test_json_that_is_not_an_object(api: Api) -> None:
    refused(api.post("/accounts", json=[{"Name": "x"}]), 400, "VALIDATION_ERROR")
    account_id = _account(api)
    refused(api.patch(f"/accounts/{account_id}", json="Name"), 400, "VALIDATION_ERROR")


def test_body_over_the_limit_is_413(api: Api) -> None:
    limit = api.server.settings.max_body_bytes
    big = json.dumps({"Name": "x", "Description": "d" * limit})
    refused(api.post("/accounts", data=big), 413, "PAYLOAD_TOO_LARGE")
    account_id = _account(api)
    refused(api.patch(f"/accounts/{account_id}", data=big), 413, "PAYLOAD_TOO_LARGE")


# -- routing ---------------------------------------------------------------------------------------


def test_unknown_route_is_404_in_the_envelope(api: Api) -> None:
    for path in ("/leads", "/accounts/001/contacts", "/", "/accounts/", "/batch/contacts"):
        refused(api.get(path), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/accounts", "POST"),
        ("PUT", "/accounts/0015g0000000001AAA", "GET, PATCH, DELETE"),
        ("POST", "/contacts/0035g0000000001AAA", "GET, PATCH, DELETE"),
        ("GET", "/query", "POST"),
        ("DELETE", "/batch/accounts", "POST"),
        ("POST", "/health", "GET"),
    ],
)
def test_wrong_method_is_405_with_allow(api: Api, method: str, path: str, allow: str) -> None:
    resp = api.call(method, path, json={})
    refused(resp, 405, "METHOD_NOT_ALLOWED")
    assert resp.headers["Allow"] == allow


# -- text and media types (issue 10, items 2 and 7) --------------------------------------------------

LONE_SURROGATES = [
    b'{"Name": "a\\ud800b"}',  # a high surrogate alone
    b'{"Name": "a\\udc00b"}',  # a low surrogate alone
    b'{"Name": "\\ude00\\ud83d"}',  # a pair in the wrong order
    b'{"Name": "ok", "Description": "half an emoji \\ud83d"}',
    b'{"Name\\ud800": "x"}',  # in a key
]


@pytest.mark.parametrize("raw", LONE_SURROGATES)
def test_a_lone_surrogate_is_invalid_json_on_create_and_update(api: Api, raw: bytes) -> None:
    json_headers = {"Content-Type": "application/json"}
    before = api.sf_counters()["api_requests"]
    message = refused(api.post("/accounts", data=raw, headers=json_headers), 400, "INVALID_JSON")
    assert "surrogate" in message
    account_id = _account(api)
    after_create = api.sf_counters()["api_requests"]
    assert after_create == before + 1  # only the setup's create reached Salesforce
    refused(api.patch(f"/accounts/{account_id}", data=raw, headers=json_headers), 400, "INVALID_JSON")
    batch = b"[" + raw + b"]"
    refused(api.post("/batch/accounts", data=batch, headers=json_headers), 400, "INVALID_JSON")
    assert api.sf_counters()["api_requests"] == after_create


def test_a_lone_surrogate_in_a_query_literal_is_invalid_json(api: Api) -> None:
    raw = b'{"soql": "SELECT Id FROM Account WHERE Name = \'a\\ud800b\'"}'
    before = api.sf_counters()["api_requests"]
    refused(api.post("/query", data=raw, headers={"Content-Type": "application/json"}), 400, "INVALID_JSON")
    assert api.sf_counters()["api_requests"] == before


def test_a_proper_surrogate_pair_is_the_character_it_encodes(api: Api) -> None:
    raw = b'{"Name": "smile \\ud83d\\ude00"}'
    data = ok(api.post("/accounts", data=raw, headers={"Content-Type": "application/json"}), 201)
    assert data["account_name"] == "smile \U0001f600"
    assert ok(api.get(f"/accounts/{data['record_id']}"))["Name"] == "smile \U0001f600"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/octet-stream",
        "application/json; charset=latin-1",
        "application/jsonx",
        "application/json, text/plain",
        None,
    ],
)
def test_a_body_that_is_not_declared_json_is_415(api: Api, content_type: str | None) -> None:
    account_id = _account(api)
    headers = {"Content-Type": content_type} if content_type else {}
    before = api.sf_counters()["api_requests"]
    for method, path in [
        ("POST", "/accounts"),
        ("POST", "/contacts"),
        ("POST", "/opportunities"),
        ("PATCH", f"/accounts/{account_id}"),
        ("POST", "/query"),
        ("POST", "/batch/accounts"),
    ]:
        body = b'{"Name": "Acme"}' if path != "/query" else b'{"soql": "SELECT Id FROM Account"}'
        if path == "/batch/accounts":
            body = b'[{"Name": "Acme"}]'
        message = refused(api.call(method, path, data=body, headers=headers), 415, "UNSUPPORTED_MEDIA_TYPE")
        assert "application/json" in message
    assert api.sf_counters()["api_requests"] == before


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        'application/json;charset="UTF-8"',
    ],
)
def test_json_media_types_that_are_accepted(api: Api, content_type: str) -> None:
    ok(api.post("/accounts", data=b'{"Name": "Acme"}', headers={"Content-Type": content_type}), 201)
