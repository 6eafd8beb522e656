"""Creates with an ``Idempotency-Key`` through real HTTP (issue 10, item 6): a retry returns the first
answer and creates nothing, also when Salesforce's answer to the first attempt was lost; a reused key
with another body is 422; the store is Powertools' idempotency over (moto's) DynamoDB."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from claimsync.crm import IdempotencyInProgress
from claimsync.crm.idempotency import IdempotencyStore, KeyedRequest, caller_scope, item_key, parse_key
from handlers import _crm_edge
from tests.api.conftest import Api, ok, refused

pytestmark = pytest.mark.api

CREATES = [
    ("/accounts", {"Name": "Acme Health", "BillingCity": "Reno"}, "Account"),
    ("/contacts", {"FirstName": "Ada", "LastName": "Lovelace"}, "Contact"),
    ("/opportunities", {"Name": "Renewal", "StageName": "Prospecting", "CloseDate": "2026-03-01"}, "Opportunity"),
]  # fmt: skip


def _key() -> str:
    return str(uuid.uuid4())


def _rows(api: Api, sobject: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = api.admin("GET", f"/records/{sobject}")["records"]
    return rows


def _keyed(api: Api, path: str, body: object, key: str, **kwargs: Any) -> requests.Response:
    return api.post(path, json=body, headers={"Idempotency-Key": key}, **kwargs)


@pytest.mark.parametrize(("path", "body", "sobject"), CREATES)
def test_a_retry_returns_the_first_answer_and_creates_nothing(
    api: Api, path: str, body: dict[str, Any], sobject: str
) -> None:
    key = _key()
    first = _keyed(api, path, body, key)
    data = ok(first, 201)
    assert "Idempotent-Replayed" not in first.headers
    calls = api.sf_counters()["api_requests"]
    again = _keyed(api, path, dict(reversed(body.items())), key)  # same JSON value, other key order
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content  # the first answer, timestamp included
    assert api.sf_counters()["api_requests"] == calls  # answered from the store: Salesforce not called
    assert [r["Id"] for r in _rows(api, sobject)] == [data["record_id"]]


def test_a_keyed_batch_is_answered_once(api: Api) -> None:
    key = _key()
    batch = [{"Name": f"Clinic {i}"} for i in range(250)] + [{"Colour": "red"}]
    first = _keyed(api, "/batch/accounts", batch, key)
    data = ok(first, 201)
    assert (data["successful"], data["failed"]) == (250, 1)
    again = _keyed(api, "/batch/accounts", batch, key)
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert len(_rows(api, "Account")) == 250


def test_without_a_key_a_repeated_create_is_a_second_record(api: Api) -> None:
    ok(api.post("/accounts", json={"Name": "Twice"}), 201)
    ok(api.post("/accounts", json={"Name": "Twice"}), 201)
    assert len(_rows(api, "Account")) == 2


@pytest.mark.parametrize(("path", "body", "sobject"), CREATES)
def test_salesforce_commits_but_its_answer_is_lost_then_the_retry_makes_exactly_one_record(
    api: Api, path: str, body: dict[str, Any], sobject: str
) -> None:
    key = _key()
    api.admin("POST", "/faults", json={"kind": "drop_answer", "on": "sobject_upsert", "count": 1})
    refused(_keyed(api, path, body, key), 502, "UPSTREAM_ERROR")
    committed = _rows(api, sobject)
    assert len(committed) == 1  # Salesforce did create it; the API could not know
    retried = ok(_keyed(api, path, body, key), 201)
    assert retried["record_id"] == committed[0]["Id"]
    assert len(_rows(api, sobject)) == 1
    assert ok(_keyed(api, path, body, key), 201) == retried  # and from now on it is replayed


def test_a_batch_whose_answer_is_lost_is_not_created_twice(api: Api) -> None:
    key = _key()
    batch = [{"Name": f"Lost {i:03d}"} for i in range(450)]
    # The first Collections call (records 0..199) commits and its answer is lost.
    api.admin("POST", "/faults", json={"kind": "drop_answer", "on": "composite_upsert", "count": 1})
    refused(_keyed(api, "/batch/accounts", batch, key), 502, "UPSTREAM_ERROR")
    assert len(_rows(api, "Account")) == 200
    retried = ok(_keyed(api, "/batch/accounts", batch, key), 201)
    assert (retried["successful"], retried["failed"]) == (450, 0)
    rows = _rows(api, "Account")
    assert sorted(r["Name"] for r in rows) == [f"Lost {i:03d}" for i in range(450)]
    assert [r["record_id"] for r in retried["results"][:200]] == [r["Id"] for r in rows[:200]]


def test_a_slow_answer_the_client_gave_up_on_is_replayed_to_its_retry(api: Api) -> None:
    key = _key()
    api.admin(
        "POST", "/faults", json={"kind": "slow_answer", "on": "sobject_upsert", "count": 1, "seconds": 1.5}
    )
    with pytest.raises(requests.ReadTimeout):
        _keyed(api, "/accounts", {"Name": "Patient Client"}, key, timeout=0.3)
    # The API went on, got Salesforce's answer and stored it; the retry gets that answer.
    retried = _keyed(api, "/accounts", {"Name": "Patient Client"}, key)
    assert retried.status_code == 201 and retried.headers["Idempotent-Replayed"] == "true"
    assert [r["Id"] for r in _rows(api, "Account")] == [retried.json()["data"]["record_id"]]


def test_the_same_key_with_another_body_or_route_is_422(api: Api) -> None:
    key = _key()
    first = ok(_keyed(api, "/accounts", {"Name": "Original"}, key), 201)
    message = refused(_keyed(api, "/accounts", {"Name": "Changed"}, key), 422, "IDEMPOTENCY_KEY_REUSED")
    assert "another body" in message and "Original" not in message and "Changed" not in message
    refused(_keyed(api, "/batch/accounts", [{"Name": "Original"}], key), 422, "IDEMPOTENCY_KEY_REUSED")
    refused(_keyed(api, "/contacts", {"FirstName": "A", "LastName": "B"}, key), 422, "IDEMPOTENCY_KEY_REUSED")
    assert ok(_keyed(api, "/accounts", {"Name": "Original"}, key), 201) == first
    assert len(_rows(api, "Account")) == 1 and not _rows(api, "Contact")


def test_a_failed_request_does_not_use_up_its_key(api: Api) -> None:
    key = _key()
    refused(_keyed(api, "/accounts", {"Colour": "red"}, key), 400, "VALIDATION_ERROR")
    api.admin("POST", "/faults", json={"kind": "unavailable", "on": "sobject_upsert", "count": 1})
    refused(_keyed(api, "/accounts", {"Name": "Later"}, key), 502, "UPSTREAM_ERROR")
    ok(_keyed(api, "/accounts", {"Name": "Later"}, key), 201)
    assert len(_rows(api, "Account")) == 1


@pytest.mark.parametrize(
    "value", ["", " ", "a b", "x" * 256, '"unterminated', "caf\u00e9", "tab\there", '"a\\"b"', "k1, k2", '""']
)
def test_a_malformed_key_is_400_and_creates_nothing(api: Api, value: str) -> None:
    headers = [("Content-Type", "application/json"), ("Idempotency-Key", value.encode("utf-8"))]
    resp = api.raw("POST", "/accounts", headers=headers, body=b'{"Name": "Keyed"}')
    message = refused(resp, 400, "VALIDATION_ERROR")
    assert "Idempotency-Key" in message
    assert not _rows(api, "Account")


def test_two_key_headers_are_400(api: Api) -> None:
    headers = [("Content-Type", "application/json"), ("Idempotency-Key", "k1"), ("Idempotency-Key", "k2")]
    refused(api.raw("POST", "/accounts", headers=headers, body=b'{"Name": "Keyed"}'), 400, "VALIDATION_ERROR")
    assert not _rows(api, "Account")


def test_a_quoted_key_is_the_same_key(api: Api) -> None:
    first = ok(_keyed(api, "/accounts", {"Name": "Q"}, "order-42"), 201)
    again = _keyed(api, "/accounts", {"Name": "Q"}, '"order-42"')
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["data"] == first


def test_a_request_still_in_progress_is_409_with_retry_after(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(*_: object, **__: object) -> None:
        raise IdempotencyInProgress("a request with this Idempotency-Key is still being processed")

    monkeypatch.setattr(api.server.idempotency, "run", busy)
    resp = _keyed(api, "/accounts", {"Name": "Busy"}, _key())
    refused(resp, 409, "IDEMPOTENCY_IN_PROGRESS")
    assert resp.headers["Retry-After"] == "1"


# -- the store itself, over the server's moto DynamoDB ------------------------------------------------


def _store(api: Api) -> IdempotencyStore:
    assert api.server.idempotency is not None
    return api.server.idempotency


def test_a_second_request_while_the_first_runs_is_in_progress(api: Api) -> None:
    store = _store(api)
    request = KeyedRequest(scope="", key=_key(), route="POST /accounts", body={"Name": "x"})
    inner: list[Exception] = []

    def first() -> dict[str, str]:
        try:
            store.run(request, lambda: {"never": "run"})
        except IdempotencyInProgress as exc:
            inner.append(exc)
        return {"answer": "first"}

    assert store.run(request, first) == ({"answer": "first"}, False)
    assert len(inner) == 1
    assert store.run(request, lambda: {"answer": "second"}) == ({"answer": "first"}, True)


def test_keys_are_scoped_to_the_caller(api: Api) -> None:
    store = _store(api)
    key = _key()
    alice = KeyedRequest("arn:aws:iam::1:role/alice|", key, "POST /accounts", {"Name": "x"})
    bob = KeyedRequest("arn:aws:iam::1:role/bob|", key, "POST /accounts", {"Name": "y"})
    assert store.run(alice, lambda: "alice's") == ("alice's", False)
    assert store.run(bob, lambda: "bob's") == ("bob's", False)  # no 422, no replay of alice's answer
    assert alice.salesforce_key != bob.salesforce_key


def test_a_big_batch_answer_fits_in_one_dynamodb_item(api: Api) -> None:
    store = _store(api)
    answer = {
        "results": [{"success": False, "record_id": None, "error": "VALIDATION_ERROR: " + "x" * 300}] * 5000
    }
    request = KeyedRequest("", _key(), "POST /batch/accounts", [])
    assert store.run(request, lambda: answer) == (answer, False)  # 1.5 MB of JSON, stored gzipped
    assert store.run(request, lambda: None) == (answer, True)


def test_salesforce_keys_follow_the_request() -> None:
    base = KeyedRequest("c", "k", "POST /accounts", {"Name": "x", "Phone": "1"})
    same = KeyedRequest("c", "k", "POST /accounts", {"Phone": "1", "Name": "x"})
    assert base.salesforce_key == same.salesforce_key and len(base.salesforce_key) == 64
    for other in (
        KeyedRequest("c", "k2", "POST /accounts", base.body),
        KeyedRequest("c", "k", "POST /contacts", base.body),
        KeyedRequest("c", "k", "POST /accounts", {"Name": "y", "Phone": "1"}),
    ):
        assert other.salesforce_key != base.salesforce_key
    assert len({item_key(base.salesforce_key, i) for i in range(1000)}) == 1000


def test_caller_scope_is_the_principal_without_its_session() -> None:
    role = "arn:aws:sts::123456789012:assumed-role/crm-client"
    assert caller_scope(f"{role}/session-1", None) == caller_scope(f"{role}/i-0abc", None) == f"{role}|"
    assert (
        caller_scope("arn:aws:iam::123456789012:user/ops", "key1")
        == "arn:aws:iam::123456789012:user/ops|key1"
    )
    assert caller_scope(f"{role}/s", None) != caller_scope(
        "arn:aws:sts::123456789012:assumed-role/other/s", None
    )
    assert caller_scope(None, None) == "|"


def test_parse_key() -> None:
    assert parse_key([]) is None
    assert parse_key(["abc"]) == parse_key(['"abc"']) == parse_key([" abc "]) == "abc"
    assert parse_key(["8e03978e-40d5-43e8-bc93-6894a57f9324"]) == "8e03978e-40d5-43e8-bc93-6894a57f9324"


def test_the_handler_without_a_table_refuses_keyed_creates_only(api: Api) -> None:
    _crm_edge.configure(
        gateway=api.server.gateway, settings=api.server.settings, cursor_key=api.server.cursor_key
    )
    try:
        refused(_keyed(api, "/accounts", {"Name": "x"}, _key()), 500, "INTERNAL_ERROR")
        ok(api.post("/accounts", json={"Name": "x"}), 201)
    finally:
        api.server.configure_handler()
