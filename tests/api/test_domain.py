"""The CRM domain without servers: ids, field rules, the SOQL guard and cursor, bodies, settings, the
batch's failure handling, and the handler on recorded API Gateway events (fake gateway)."""

from __future__ import annotations

import base64
import json
import re
import typing
from collections.abc import Iterator, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimsync import settings as reader
from claimsync.crm import (
    ACCOUNT,
    CONTACT,
    OPPORTUNITY,
    CrmConfigError,
    CrmSettings,
    ForeignRecords,
    InvalidJson,
    InvalidRecordId,
    MissingParameters,
    PayloadTooLarge,
    QueryPolicy,
    QueryRejected,
    UnsupportedMediaType,
    ValidationFailed,
    batch_create,
    create_record,
    parse_json_body,
)
from claimsync.crm.body import MAX_DEPTH
from claimsync.crm.config import ENV_PREFIX
from claimsync.crm.ids import checksum, normalize_id
from claimsync.crm.objects import validate_fields
from claimsync.crm.soql import CursorCodec, check_record_types, guard_soql, strip_attributes
from claimsync.salesforce.errors import SalesforceNotFound, SalesforceUnavailable
from claimsync.salesforce.gateway import RecordResult
from handlers import _crm_edge, crm_api
from local.salesforce_emulator import ids as emulator_ids

pytestmark = [pytest.mark.api, pytest.mark.unit]

EVENTS = Path(__file__).with_name("events")
CRM_API_DOC = Path(__file__).resolve().parents[2] / "docs" / "crm-api.md"
POLICY = QueryPolicy(objects=("Account", "Contact", "Opportunity", "Claim_Payor__c"), max_limit=500)

# -- ids -------------------------------------------------------------------------------------------


@given(
    st.text(
        alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=12, max_size=12
    )
)
def test_checksum_agrees_with_the_emulator(tail: str) -> None:
    id15 = "001" + tail
    assert normalize_id(id15, "001") == emulator_ids.to18(id15)
    assert normalize_id(emulator_ids.to18(id15), "001") == emulator_ids.to18(id15)


def test_known_checksums() -> None:
    # Salesforce's documented example pair: 15 and 18 characters.
    assert checksum("001A0000006Vm9r") == "IAC"
    assert normalize_id("001A0000006Vm9r", "001") == "001A0000006Vm9rIAC"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "string"),
        ("", "15 or 18"),
        ("001A0000006Vm9", "15 or 18"),
        ("001A0000006Vm9rIA", "15 or 18"),
        ("001A0000006Vm9_", "letters and digits"),
        ("001A0000006Vm9rIA_", "letters and digits"),
        ("001A0000006Vm9rIAD", "checksum"),
        ("001a0000006Vm9rIAC", "checksum"),
        ("003A0000006Vm9r", "prefix 001"),
    ],
)
def test_invalid_ids(value: object, why: str) -> None:
    with pytest.raises(InvalidRecordId, match=why):
        normalize_id(value, "001")


# -- field rules -----------------------------------------------------------------------------------


def test_create_collects_every_problem() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_fields(
            OPPORTUNITY,
            {"Name": "x", "Amount": "9", "CloseDate": "2026-13-01", "Colour": 1, "StageName": "Won"},
            partial=False,
        )
    assert set(caught.value.fields) == {"Amount", "CloseDate", "Colour", "StageName"}


def test_update_takes_only_the_given_fields_and_null_clears_optional_ones() -> None:
    assert validate_fields(ACCOUNT, {"Phone": None}, partial=True) == {"Phone": None}
    with pytest.raises(ValidationFailed, match="cannot be null"):
        validate_fields(ACCOUNT, {"Name": None}, partial=True)
    with pytest.raises(MissingParameters):
        validate_fields(ACCOUNT, {}, partial=True)


def test_contact_needs_both_names() -> None:
    with pytest.raises(ValidationFailed, match="FirstName"):
        validate_fields(CONTACT, {"LastName": "x"}, partial=False)


@pytest.mark.parametrize("value", [0, 1.5, -2, 9_999_999_999_999_999])
def test_amounts(value: float) -> None:
    assert validate_fields(OPPORTUNITY, {"Amount": value}, partial=True) == {"Amount": value}


@pytest.mark.parametrize("email", ["a@b.co", "first.last+tag@sub.example.org", "o'neil@x-y.io"])
def test_emails(email: str) -> None:
    validate_fields(CONTACT, {"Email": email}, partial=True)


def test_a_whole_number_too_big_for_a_float_is_a_validation_error() -> None:
    for field in ("NumberOfEmployees", "AnnualRevenue"):
        with pytest.raises(ValidationFailed, match=f"{field} must be at most"):
            validate_fields(ACCOUNT, {"Name": "x", field: 10**4000}, partial=False)


# -- bodies ----------------------------------------------------------------------------------------


def test_body_limits_and_json() -> None:
    assert parse_json_body(b'{"a": 1}', max_bytes=8) == {"a": 1}
    with pytest.raises(PayloadTooLarge):
        parse_json_body(b'{"a": 10}', max_bytes=8)
    for empty in (None, b"", b" \n"):
        with pytest.raises(MissingParameters):
            parse_json_body(empty, max_bytes=8)
    for bad in (b"{", b"NaN", b"[Infinity]", b"\xff"):
        with pytest.raises(InvalidJson):
            parse_json_body(bad, max_bytes=80)
    with pytest.raises(InvalidJson):
        parse_json_body(b"[" * 100_000 + b"]" * 100_000, max_bytes=10**6)


@pytest.mark.parametrize(
    "raw",
    [
        b'"\\\\ud800"',  # an escaped backslash: the text \\ud800, not a surrogate
        b'{"Name": "\\\\udc00 literally"}',
        b'"\\ud83d\\ude00"',  # a pair: one character
        '"caf\u00e9 \U0001f600"'.encode(),
    ],
)
def test_text_that_is_not_a_lone_surrogate_passes(raw: bytes) -> None:
    parse_json_body(raw, max_bytes=100)


@given(st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3))
def test_a_lone_surrogate_anywhere_is_invalid_json(surrogates: str) -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in surrogates)
    if (
        len(surrogates) == 2
        and "\ud800" <= surrogates[0] <= "\udbff"
        and "\udc00" <= surrogates[1] <= "\udfff"
    ):
        return  # a valid pair
    for template in ('"{}"', '{{"k": "a{}b"}}', '{{"k{}": 1}}', '[1, [{{"deep": ["{}"]}}]]'):
        with pytest.raises(InvalidJson, match="surrogate"):
            parse_json_body(template.format(escaped).encode(), max_bytes=1000)


def test_nesting_depth_is_bounded() -> None:
    ok_depth = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_json_body(ok_depth, max_bytes=1000) is not None
    for deeper in (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), b'{"a":' * 500 + b"1" + b"}" * 500):
        with pytest.raises(ValidationFailed, match="nested deeper"):
            parse_json_body(deeper, max_bytes=10**6)


@pytest.mark.parametrize(
    ("content_types", "accepted"),
    [
        (["application/json"], True),
        (["APPLICATION/JSON ; charset=UTF-8"], True),
        (["application/json; charset=utf8; foo=bar"], True),
        ([], False),
        (["application/json", "application/json"], False),
        (["text/plain"], False),
        (["application/json; charset=utf-16"], False),
        (["application/json-patch+json"], False),
        ([""], False),
    ],
)
def test_media_types(content_types: list[str], accepted: bool) -> None:
    if accepted:
        assert parse_json_body(b"{}", max_bytes=10, content_types=content_types) == {}
    else:
        with pytest.raises(UnsupportedMediaType):
            parse_json_body(b"{}", max_bytes=10, content_types=content_types)


# -- SOQL guard --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("soql", "sent"),
    [
        ("SELECT Id FROM Account", "SELECT Id FROM Account LIMIT 500"),
        ("  select Id from account  ", "select Id from account LIMIT 500"),
        ("SELECT Id FROM Account LIMIT 10", "SELECT Id FROM Account LIMIT 10"),
        ("SELECT Id FROM Account limit 500", "SELECT Id FROM Account limit 500"),
        (
            "SELECT Id FROM Account ORDER BY Name OFFSET 5",
            "SELECT Id FROM Account ORDER BY Name LIMIT 500 OFFSET 5",
        ),
        ("SELECT COUNT() FROM Contact", "SELECT COUNT() FROM Contact LIMIT 500"),
        ("SELECT Account.Name FROM Contact", "SELECT Account.Name FROM Contact LIMIT 500"),
        (
            "SELECT Claim_Payor__r.Name FROM Claim_Payor__c",
            "SELECT Claim_Payor__r.Name FROM Claim_Payor__c LIMIT 500",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'it''s; LIMIT 9 FROM User'",
            "SELECT Id FROM Account WHERE Name = 'it''s; LIMIT 9 FROM User' LIMIT 500",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'a\\' FOR UPDATE'",
            "SELECT Id FROM Account WHERE Name = 'a\\' FOR UPDATE' LIMIT 500",
        ),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate > 2026-01-01T00:00:00Z",
            "SELECT Id FROM Opportunity WHERE CloseDate > 2026-01-01T00:00:00Z LIMIT 500",
        ),
    ],
)
def test_guard_sends(soql: str, sent: str) -> None:
    assert guard_soql(soql, POLICY).soql == sent


@pytest.mark.parametrize(
    ("soql", "sobject"),
    [
        ("select id from account", "Account"),
        ("SELECT Account.Name FROM contact", "Contact"),
        ("SELECT Name FROM CLAIM_PAYOR__C", "Claim_Payor__c"),
        ("SELECT COUNT() FROM Opportunity", "Opportunity"),
    ],
)
def test_guard_names_the_object_in_its_canonical_spelling(soql: str, sobject: str) -> None:
    assert guard_soql(soql, POLICY).sobject == sobject


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM User",
        "SELECT Id FROM Account LIMIT 501",
        "SELECT Id FROM Account LIMIT 1 LIMIT 2",
        "SELECT Id FROM Account, Contact",
        "SELECT Id FROM Account FROM Contact",
        "SELECT CreatedBy.Name FROM Account",
        "SELECT Id FROM Account WHERE Name = 'x' ; SELECT Id FROM User",
        "SELECT Id FROM Account ALL ROWS FOR REFERENCE",
        "SELECT Id FROM Account UPDATE VIEWSTAT",
        "SELECT Id FROM Account WHERE Name = 'open",
        "",
    ],
)
def test_guard_refuses(soql: str) -> None:
    with pytest.raises(QueryRejected):
        guard_soql(soql, POLICY)


URL = "/services/data/v62.0/query/01g5g000001ABCDEFG-2000"
KEY = b"0123456789abcdef0123456789abcdef"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_cursor_round_trip() -> None:
    codec = CursorCodec(KEY, ttl_s=900, clock=Clock(1_000_000))
    cursor = codec.issue("Contact", URL)
    assert cursor.startswith("c1.") and "/" not in cursor and "services" not in cursor
    locator = codec.open(cursor, POLICY)
    assert (locator.sobject, locator.next_records_url) == ("Contact", URL)
    with pytest.raises(ValueError):
        codec.issue("Account", "https://elsewhere.example/query/01g5g000001ABCDEFG-2000")
    with pytest.raises(ValueError):
        CursorCodec(b"short")


def test_cursor_expiry() -> None:
    clock = Clock(1_000_000)
    codec = CursorCodec(KEY, ttl_s=900, clock=clock)
    cursor = codec.issue("Account", URL)
    clock.now += 899
    codec.open(cursor, POLICY)
    clock.now += 1
    with pytest.raises(QueryRejected, match="expired"):
        codec.open(cursor, POLICY)


def test_a_cursor_of_an_object_no_longer_allowed_is_refused() -> None:
    codec = CursorCodec(KEY)
    cursor = codec.issue("Claim_Payor__c", URL)
    codec.open(cursor, POLICY)
    with pytest.raises(QueryRejected, match="not allowed"):
        codec.open(cursor, QueryPolicy(objects=("Account", "Contact", "Opportunity")))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=255))
def test_any_changed_byte_of_a_cursor_is_refused(position: int, delta: int) -> None:
    codec = CursorCodec(KEY)
    cursor = codec.issue("Account", URL)
    _, payload, tag = cursor.split(".")
    raw = bytearray(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        + b"|"
        + base64.urlsafe_b64decode(tag + "=")
    )
    at = position % len(raw)
    raw[at] = (raw[at] + delta) % 256
    body, _, new_tag = bytes(raw).partition(b"|")
    forged = f"c1.{_b64(body)}.{_b64(new_tag)}" if len(new_tag) == 32 else f"c1.{_b64(bytes(raw))}.{tag}"
    with pytest.raises(QueryRejected):
        codec.open(forged, POLICY)


def test_cursors_of_another_key_or_shape_are_refused() -> None:
    codec = CursorCodec(KEY)
    other = CursorCodec(b"x" * 32).issue("Account", URL)
    for bad in (12, None, "", "%%%", other, _b64(URL.encode()), "c1..", "c1." + _b64(b"{}") + "." + "A" * 43):
        with pytest.raises(QueryRejected, match="not a cursor this API issued"):
            codec.open(bad, POLICY)


def test_record_types_are_checked_at_every_depth() -> None:
    def rec(kind: str | None, **fields: object) -> dict[str, object]:
        return {"attributes": {"type": kind, "url": "/x"}, **fields} if kind else dict(fields)

    check_record_types([rec("Contact", Account=rec("Account", Name="A"))], "Contact", POLICY, first_page=True)
    check_record_types([rec("AggregateResult", expr0=3)], "Account", POLICY, first_page=True)
    check_record_types([rec("Account", BillingAddress={"city": "Reno"})], "Account", POLICY, first_page=False)
    for records, sobject, first_page in (
        ([rec("Claim__c", Patient_Name__c="x")], "Account", True),
        ([rec("Account"), rec("Contact")], "Account", True),
        ([rec(None, Id="1")], "Account", True),
        (["not a record"], "Account", True),
        ([rec("AggregateResult", expr0=3)], "Account", False),
        ([rec("Contact", Owner=rec("User", Email="x"))], "Contact", True),
        ([rec("Contact", Address={"nested": [rec("User")]})], "Contact", True),
    ):
        with pytest.raises(ForeignRecords):
            check_record_types(records, sobject, POLICY, first_page=first_page)


def test_attributes_are_stripped_everywhere() -> None:
    records = [{"attributes": {"type": "Contact"}, "Id": "1", "Account": {"attributes": {}, "Name": "A"}}]
    assert strip_attributes(records) == [{"Id": "1", "Account": {"Name": "A"}}]


# -- settings --------------------------------------------------------------------------------------


def test_settings_defaults_and_overrides() -> None:
    assert CrmSettings.from_env({}) == CrmSettings()
    s = CrmSettings.from_env(
        {
            "CLAIMSYNC_SALESFORCE_SECRET_ID": "claimsync/salesforce",
            "CRM_QUERY_OBJECTS": "Account, Claim__c",
            "CRM_QUERY_MAX_LIMIT": "200",
            "CRM_BATCH_MAX": "50",
            "CRM_MAX_BODY_BYTES": "4096",
            "AWS_LAMBDA_FUNCTION_NAME": "crm-fn",
            "AWS_LAMBDA_FUNCTION_VERSION": "12",
        }
    )
    assert s.query_policy(["Contact"]) == QueryPolicy(objects=("Account", "Claim__c"), max_limit=200)
    assert CrmSettings().query_policy(["Contact"]) == QueryPolicy(objects=("Contact",), max_limit=10_000)
    assert (s.batch_max, s.max_body_bytes, s.function_name, s.function_version) == (50, 4096, "crm-fn", "12")
    with pytest.raises(CrmConfigError, match="CRM_BATCH_MAX"):
        CrmSettings.from_env({"CRM_BATCH_MAX": "lots"})
    with pytest.raises(CrmConfigError, match="CRM_QUERY_OBJECTS"):
        CrmSettings.from_env({"CRM_QUERY_OBJECTS": "Account;DROP"})
    s = CrmSettings.from_env(
        {
            "CRM_CURSOR_SECRET_ID": "arn:cursor",
            "CRM_CURSOR_TTL_SECONDS": "300",
            "CRM_IDEMPOTENCY_TABLE": "idem",
            "CRM_IDEMPOTENCY_TTL_SECONDS": "3600",
        }
    )
    assert (s.cursor_secret_id, s.cursor_ttl_s, s.idempotency_table, s.idempotency_ttl_s) == (
        "arn:cursor",
        300,
        "idem",
        3600,
    )
    with pytest.raises(CrmConfigError, match="CRM_CURSOR_TTL_SECONDS"):
        CrmSettings.from_env({"CRM_CURSOR_TTL_SECONDS": "5"})
    with pytest.raises(CrmConfigError, match="CLAIMSYNC_SALESFORCE_API_VERSION must match"):
        CrmSettings.from_env({"CLAIMSYNC_SALESFORCE_API_VERSION": "v62"})
    assert (
        CrmSettings.from_env({"CRM_BATCH_MAX": " ", "CRM_FUNCTION_NAME": ""}) == CrmSettings()
    )  # blank: unset


def test_the_documented_settings_are_the_fields() -> None:
    """docs/crm-api.md's settings table names every variable CrmSettings reads, with its default."""
    section = CRM_API_DOC.read_text(encoding="utf-8").split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    by_name = {reader.env_name(f, ENV_PREFIX): f for f in fields(CrmSettings)}
    hints = typing.get_type_hints(CrmSettings)
    documented: set[str] = set()
    for row in re.findall(r"^\| (`[A-Z_]+`(?:, `[A-Z_]+`)*) \| ([^|]+) \|", section, re.MULTILINE):
        names, default = re.findall(r"`([A-Z_]+)`", row[0]), row[1].strip()
        documented.update(names)
        for name in names:
            field = by_name[name]
            expected = getattr(CrmSettings(), field.name)
            if default.startswith("`"):
                assert reader.convert(hints[field.name], default.strip("`")) == expected, name
            elif default == "\N{EN DASH}":  # the table's "none"
                assert expected in ("", ()), name
    assert documented == set(by_name)


# -- batch over a fake gateway -----------------------------------------------------------------------


class FakeGateway:
    """Collections calls only; ``fail_call`` (1-based) raises like a Salesforce 503."""

    def __init__(self, fail_call: int | None = None) -> None:
        self.fail_call = fail_call
        self.calls: list[int] = []
        self.records: dict[str, dict[str, Any]] = {}

    def collections_create(self, sobject: str, records: Sequence[dict[str, Any]]) -> list[RecordResult]:
        self.calls.append(len(records))
        if len(self.calls) == self.fail_call:
            raise SalesforceUnavailable("SERVER_UNAVAILABLE", status=503, operation="collections_create")
        out = []
        for r in records:
            if r["Name"] == "dup":
                out.append(
                    RecordResult(False, error_code="DUPLICATE_VALUE", error_detail="duplicate value found")
                )
                continue
            rid = normalize_id(f"001{len(self.records) + 1:012d}", "001")
            self.records[rid] = dict(r)
            out.append(RecordResult(True, id=rid, created=True))
        return out

    def collections_upsert(
        self, sobject: str, external_id_field: str, records: Sequence[dict[str, Any]]
    ) -> list[RecordResult]:
        known = {r.get(external_id_field): rid for rid, r in self.records.items()}
        fresh = [r for r in records if r[external_id_field] not in known]
        created = iter(self.collections_create(sobject, fresh) if fresh else [])
        return [
            RecordResult(True, id=known[r[external_id_field]], created=False)
            if r[external_id_field] in known
            else next(created)
            for r in records
        ]

    def get(self, sobject: str, record_id: str, fields: Sequence[str] | None = None) -> dict[str, Any]:
        return {"attributes": {"type": sobject}, "Id": record_id, **self.records.get(record_id, {})}

    def create(self, sobject: str, fields: dict[str, Any]) -> str:
        return self.collections_create(sobject, [fields])[0].id or ""


def test_batch_reports_records_not_sent_after_a_later_call_fails() -> None:
    gw = FakeGateway(fail_call=2)
    result = batch_create(gw, ACCOUNT, [{"Name": f"n{i}"} for i in range(450)], max_records=1000)  # type: ignore[arg-type]
    assert gw.calls == [200, 200]
    assert result.successful == 200 and result.failed == 250
    assert all(r.success for r in result.results[:200])
    assert all(
        r.error == "SERVER_UNAVAILABLE: not sent, Salesforce failed the call" for r in result.results[200:]
    )


def test_a_keyed_batch_fails_whole_when_a_later_call_fails_and_its_retry_settles_it() -> None:
    gw = FakeGateway(fail_call=2)
    batch = [{"Name": f"n{i}"} for i in range(450)]
    with pytest.raises(SalesforceUnavailable):
        batch_create(gw, ACCOUNT, batch, max_records=1000, request_key="k" * 64)  # type: ignore[arg-type]
    assert len(gw.records) == 200
    result = batch_create(gw, ACCOUNT, batch, max_records=1000, request_key="k" * 64)  # type: ignore[arg-type]
    assert result.successful == 450 and len(gw.records) == 450


class OrgWithoutRequestKey(FakeGateway):
    def upsert(self, sobject: str, field: str, value: str, fields: dict[str, Any]) -> tuple[str, bool]:
        raise SalesforceNotFound("NOT_FOUND", status=404, operation="sobject_upsert")

    def collections_upsert(
        self, sobject: str, field: str, records: Sequence[dict[str, Any]]
    ) -> list[RecordResult]:
        raise SalesforceNotFound("NOT_FOUND", status=404, operation="collections_upsert")


def test_a_keyed_create_in_an_org_without_the_request_key_field_is_a_configuration_error() -> None:
    gw = OrgWithoutRequestKey()
    with pytest.raises(CrmConfigError, match="Claimsync_Request_Key__c is missing"):
        create_record(gw, ACCOUNT, {"Name": "x"}, request_key="k" * 64)  # type: ignore[arg-type]
    with pytest.raises(CrmConfigError, match="Claimsync_Request_Key__c is missing"):
        batch_create(gw, ACCOUNT, [{"Name": "x"}], max_records=10, request_key="k" * 64)  # type: ignore[arg-type]
    assert create_record(gw, ACCOUNT, {"Name": "x"})[0].startswith("001")  # type: ignore[arg-type]


def test_batch_raises_when_nothing_was_created() -> None:
    with pytest.raises(SalesforceUnavailable):
        batch_create(FakeGateway(fail_call=1), ACCOUNT, [{"Name": "a"}], max_records=10)  # type: ignore[arg-type]


def test_batch_passes_salesforce_record_errors_through() -> None:
    result = batch_create(FakeGateway(), ACCOUNT, [{"Name": "a"}, {"Name": "dup"}], max_records=10)  # type: ignore[arg-type]
    assert [r.success for r in result.results] == [True, False]
    assert result.results[1].error == "DUPLICATE_VALUE: duplicate value found"


# -- the handler on recorded API Gateway events ----------------------------------------------------


class Context:
    function_name = "claimsync-crm-api"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:claimsync-crm-api"
    aws_request_id = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def fake_gateway() -> Iterator[FakeGateway]:
    gw = FakeGateway()
    _crm_edge.configure(gateway=gw, settings=replace(CrmSettings(), function_name="fn"))  # type: ignore[arg-type]
    yield gw
    _crm_edge.configure()


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def test_handler_on_a_rest_api_event(fake_gateway: FakeGateway) -> None:
    created = crm_api.lambda_handler(_event("create_account_base64.json"), Context())
    assert created["statusCode"] == 201
    record_id = json.loads(created["body"])["data"]["record_id"]
    assert record_id.startswith("001") and len(record_id) == 18

    event = _event("get_account.json")
    event["path"] = f"/accounts/{record_id}"
    got = crm_api.lambda_handler(event, Context())
    assert got["statusCode"] == 200
    body = json.loads(got["body"])
    assert body["success"] is True and body["data"] == {"Id": record_id, "Name": "Acme Health"}


def test_handler_without_a_secret_id_is_a_500_but_health_answers() -> None:
    _crm_edge.configure(settings=CrmSettings())  # no gateway, no secret id
    try:
        failed = crm_api.lambda_handler(_event("create_account_base64.json"), Context())
        assert failed["statusCode"] == 500
        assert json.loads(failed["body"])["error"] == "internal error"
        event = {
            **_event("get_account.json"),
            "resource": "/health",
            "path": "/health",
            "pathParameters": None,
        }
        health = crm_api.lambda_handler(event, Context())
        assert health["statusCode"] == 200
        assert json.loads(health["body"])["data"]["status"] == "degraded"
    finally:
        _crm_edge.configure()
