"""Hostile input against the CRM API through real HTTP (issue 10): encodings, unpaired surrogates,
nesting depth, sizes, content types, cursors, ids, methods, idempotency keys. Every case is sent
byte for byte (http.client: repeated headers, odd bytes and paths as given) and must be answered
below 500 with the JSON envelope; where the answer is certain, with its status and error code."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.api.conftest import Api, RawResponse

pytestmark = pytest.mark.api

JSON_CT = ("Content-Type", "application/json")
ACCOUNT_ID = "0015g0000000001AAA"  # well-formed, checksum right, no such record
BAD_400 = {400}
JSON_ERRORS = {"INVALID_JSON"}


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    body: bytes | None = None
    headers: tuple[tuple[str, str | bytes], ...] = (JSON_CT,)
    statuses: frozenset[int] = frozenset({400})
    codes: frozenset[str] = field(default_factory=frozenset)  # empty: any code


def case(
    name: str,
    method: str,
    path: str,
    body: bytes | str | None = None,
    *,
    headers: tuple[tuple[str, str | bytes], ...] = (JSON_CT,),
    status: int | set[int] = 400,
    code: str | set[str] | None = None,
) -> Case:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    statuses = frozenset({status} if isinstance(status, int) else status)
    codes = frozenset({code} if isinstance(code, str) else (code or set()))
    return Case(name, method, path, raw, headers, statuses, codes)


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


CASES: list[Case] = [
    # -- encodings --------------------------------------------------------------------------------
    case("utf8-bom", "POST", "/accounts", b'\xef\xbb\xbf{"Name": "x"}', code="INVALID_JSON"),
    case("bom-only", "POST", "/accounts", b"\xef\xbb\xbf", code="INVALID_JSON"),
    case("utf16le", "POST", "/accounts", '{"Name": "x"}'.encode("utf-16-le"), code="INVALID_JSON"),
    case("utf16-bom", "POST", "/accounts", '{"Name": "x"}'.encode("utf-16"), code="INVALID_JSON"),
    case("utf32", "POST", "/accounts", '{"Name": "x"}'.encode("utf-32"), code="INVALID_JSON"),
    case("latin1-byte", "POST", "/accounts", '{"Name": "Café"}'.encode("latin-1"), code="INVALID_JSON"),
    case("overlong-slash", "POST", "/accounts", b'{"Name": "\xc0\xaf"}', code="INVALID_JSON"),
    case("overlong-nul", "POST", "/accounts", b'{"Name": "\xc0\x80"}', code="INVALID_JSON"),
    case("cesu8-surrogate-bytes", "POST", "/accounts", b'{"Name": "\xed\xa0\x80"}', code="INVALID_JSON"),
    case(
        "cesu8-pair-bytes", "POST", "/accounts", b'{"Name": "\xed\xa0\xbd\xed\xb8\x80"}', code="INVALID_JSON"
    ),
    case("beyond-10ffff", "POST", "/accounts", b'{"Name": "\xf4\x90\x80\x80"}', code="INVALID_JSON"),
    case("f5-lead-byte", "POST", "/accounts", b'{"Name": "\xf5\x80\x80\x80"}', code="INVALID_JSON"),
    case("truncated-sequence", "POST", "/accounts", b'{"Name": "\xe2\x82"}', code="INVALID_JSON"),
    case("lone-continuation", "POST", "/accounts", b'{"Name": "\x80"}', code="INVALID_JSON"),
    case("raw-nul-in-string", "POST", "/accounts", b'{"Name": "a\x00b"}', code="INVALID_JSON"),
    case("raw-tab-in-string", "POST", "/accounts", b'{"Name": "a\tb"}', code="INVALID_JSON"),
    case("raw-newline-in-string", "POST", "/accounts", b'{"Name": "a\nb"}', code="INVALID_JSON"),
    case("escaped-nul", "POST", "/accounts", '{"Name": "a\\u0000b"}', status={201, 400}),
    case("noncharacters", "POST", "/accounts", '{"Name": "\\ufffe\\uffff"}', status={201, 400}),
    case("max-code-point", "POST", "/accounts", '{"Name": "\\udbff\\udfff"}', status={201, 400}),
    case("bidi-override", "POST", "/accounts", '{"Name": "\u202eevil\u202c"}', status=201),
    case("line-separators", "POST", "/accounts", '{"Name": "a\u2028b\u2029c"}', status=201),
    case("combining-marks", "POST", "/accounts", '{"Name": "' + "e\u0301" * 100 + '"}', status=201),
    case("emoji-zwj", "POST", "/accounts", '{"Name": "\U0001f469\u200d\U0001f4bb"}', status=201),
    case(
        "latin1-in-query",
        "POST",
        "/query",
        '{"soql": "SELECT Id FROM Account WHERE Name = \'Café\'"}'.encode("latin-1"),
        code="INVALID_JSON",
    ),
    case(
        "utf16-query",
        "POST",
        "/query",
        '{"soql": "SELECT Id FROM Account"}'.encode("utf-16"),
        code="INVALID_JSON",
    ),
    case("single-quotes", "POST", "/accounts", b"{'Name': 'x'}", code="INVALID_JSON"),
    case("trailing-comma", "POST", "/accounts", b'{"Name": "x",}', code="INVALID_JSON"),
    case("comment", "POST", "/accounts", b'{"Name": "x" /* hi */}', code="INVALID_JSON"),
    case("two-documents", "POST", "/accounts", b'{"Name": "x"}{"Name": "y"}', code="INVALID_JSON"),
    case("nan", "POST", "/accounts", b'{"Name": "x", "AnnualRevenue": NaN}', code="INVALID_JSON"),
    case("infinity", "POST", "/accounts", b'{"Name": "x", "AnnualRevenue": -Infinity}', code="INVALID_JSON"),
    # -- unpaired surrogates ------------------------------------------------------------------------
    case("lone-high", "POST", "/accounts", '{"Name": "a\\ud800b"}', code="INVALID_JSON"),
    case("lone-low", "POST", "/accounts", '{"Name": "a\\udc00b"}', code="INVALID_JSON"),
    case("reversed-pair", "POST", "/accounts", '{"Name": "\\ude00\\ud83d"}', code="INVALID_JSON"),
    case("high-at-end", "POST", "/accounts", '{"Name": "truncated \\ud83d"}', code="INVALID_JSON"),
    case("two-highs", "POST", "/accounts", '{"Name": "\\ud83d\\ud83d\\ude00"}', code="INVALID_JSON"),
    case("uppercase-escape", "POST", "/accounts", '{"Name": "\\uD800"}', code="INVALID_JSON"),
    case("surrogate-in-key", "POST", "/accounts", '{"Na\\ud800me": "x"}', code="INVALID_JSON"),
    case(
        "surrogate-other-field",
        "POST",
        "/contacts",
        '{"FirstName": "A", "LastName": "B", "Title": "\\udfff"}',
        code="INVALID_JSON",
    ),
    case(
        "surrogate-opportunity",
        "POST",
        "/opportunities",
        '{"Name": "\\ud801", "StageName": "Prospecting", "CloseDate": "2026-01-01"}',
        code="INVALID_JSON",
    ),
    case("surrogate-patch", "PATCH", f"/accounts/{ACCOUNT_ID}", '{"Phone": "\\ud800"}', code="INVALID_JSON"),
    case(
        "surrogate-patch-contact",
        "PATCH",
        "/contacts/0035g0000000001AAA",
        '{"Title": "\\udbff"}',
        code="INVALID_JSON",
    ),
    case(
        "surrogate-soql-literal",
        "POST",
        "/query",
        '{"soql": "SELECT Id FROM Account WHERE Name = \'\\ud800\'"}',
        code="INVALID_JSON",
    ),
    case(
        "surrogate-soql-word",
        "POST",
        "/query",
        '{"soql": "SELECT Id FROM Acc\\ud800ount"}',
        code="INVALID_JSON",
    ),
    case("surrogate-cursor", "POST", "/query", '{"next": "c1.\\ud800.x"}', code="INVALID_JSON"),
    case(
        "surrogate-batch-item",
        "POST",
        "/batch/accounts",
        '[{"Name": "ok"}, {"Name": "\\udc01"}]',
        code="INVALID_JSON",
    ),
    case("surrogate-batch-key", "POST", "/batch/accounts", '[{"\\ud800": 1}]', code="INVALID_JSON"),
    case("surrogate-deep", "POST", "/accounts", '{"Name": [[["\\ud800"]]]}', code="INVALID_JSON"),
    case(
        "surrogate-unknown-field",
        "POST",
        "/accounts",
        '{"Name": "x", "Colour": "\\ud800"}',
        code="INVALID_JSON",
    ),
    case("escaped-backslash-not-surrogate", "POST", "/accounts", '{"Name": "\\\\ud800"}', status=201),
    case("valid-pair", "POST", "/accounts", '{"Name": "\\ud83d\\ude00"}', status=201),
    # -- nesting depth ------------------------------------------------------------------------------
    case("depth-15-value", "POST", "/accounts", '{"Name": ' + nested(14) + "}", code="VALIDATION_ERROR"),
    case("depth-17-value", "POST", "/accounts", '{"Name": ' + nested(16) + "}", code="VALIDATION_ERROR"),
    case("depth-100", "POST", "/accounts", '{"Name": ' + nested(99) + "}", code="VALIDATION_ERROR"),
    case(
        "depth-900",
        "POST",
        "/accounts",
        '{"Name": ' + nested(899) + "}",
        code={"VALIDATION_ERROR", "INVALID_JSON"},
    ),
    case(
        "depth-5000",
        "POST",
        "/accounts",
        '{"Name": ' + nested(5000) + "}",
        code={"VALIDATION_ERROR", "INVALID_JSON"},
    ),
    case("depth-100000", "POST", "/accounts", nested(100_000), code={"VALIDATION_ERROR", "INVALID_JSON"}),
    case(
        "depth-objects",
        "POST",
        "/accounts",
        '{"a":' * 2000 + "1" + "}" * 2000,
        code={"VALIDATION_ERROR", "INVALID_JSON"},
    ),
    case("depth-unclosed", "POST", "/accounts", "[" * 50_000, code="INVALID_JSON"),
    case(
        "depth-query",
        "POST",
        "/query",
        '{"soql": ' + nested(500, '"x"') + "}",
        code={"VALIDATION_ERROR", "INVALID_JSON"},
    ),
    case(
        "depth-cursor",
        "POST",
        "/query",
        '{"next": ' + nested(500, '"x"') + "}",
        code={"VALIDATION_ERROR", "INVALID_JSON"},
    ),
    case(
        "depth-batch",
        "POST",
        "/batch/accounts",
        nested(3000, "{}"),
        code={"VALIDATION_ERROR", "INVALID_JSON"},
    ),
    case(
        "depth-patch",
        "PATCH",
        f"/accounts/{ACCOUNT_ID}",
        '{"Phone": ' + nested(1000) + "}",
        code={"VALIDATION_ERROR", "INVALID_JSON"},
    ),
    # -- sizes and values ---------------------------------------------------------------------------
    case("empty-body", "POST", "/accounts", b"", code="MISSING_PARAMETERS"),
    case("whitespace-body", "POST", "/accounts", b" \r\n\t ", code="MISSING_PARAMETERS"),
    case("null-body", "POST", "/accounts", b"null", code="VALIDATION_ERROR"),
    case("number-body", "POST", "/accounts", b"1", code="VALIDATION_ERROR"),
    case("string-body", "POST", "/accounts", b'"Acme"', code="VALIDATION_ERROR"),
    case("empty-object", "POST", "/accounts", b"{}", code="VALIDATION_ERROR"),
    case("name-255", "POST", "/accounts", json.dumps({"Name": "n" * 255}), status=201),
    case("name-256", "POST", "/accounts", json.dumps({"Name": "n" * 256}), code="VALIDATION_ERROR"),
    case(
        "name-256-astral",
        "POST",
        "/accounts",
        json.dumps({"Name": "\U0001f600" * 256}),
        code="VALIDATION_ERROR",
    ),
    case(
        "description-32000",
        "POST",
        "/accounts",
        json.dumps({"Name": "d", "Description": "d" * 32000}),
        status=201,
    ),
    case(
        "description-32001",
        "POST",
        "/accounts",
        json.dumps({"Name": "d", "Description": "d" * 32001}),
        code="VALIDATION_ERROR",
    ),
    case(
        "body-over-limit",
        "POST",
        "/accounts",
        json.dumps({"Name": "x", "Description": "d" * 300_000}),
        status=413,
        code="PAYLOAD_TOO_LARGE",
    ),
    case(
        "body-over-limit-no-type",
        "POST",
        "/accounts",
        b"x" * 300_000,
        headers=(),
        status=413,
        code="PAYLOAD_TOO_LARGE",
    ),
    case(
        "ten-thousand-keys",
        "POST",
        "/accounts",
        json.dumps({f"F{i}": i for i in range(10_000)}),
        code="VALIDATION_ERROR",
    ),
    case("duplicate-keys", "POST", "/accounts", b'{"Name": "a", "Name": "b"}', status={201, 400}),
    case(
        "huge-float", "POST", "/accounts", b'{"Name": "x", "AnnualRevenue": 1e400}', code="VALIDATION_ERROR"
    ),
    case("tiny-float", "POST", "/accounts", b'{"Name": "x", "AnnualRevenue": 1e-400}', status=201),
    case(
        "int-4000-digits",
        "POST",
        "/accounts",
        b'{"Name": "x", "NumberOfEmployees": ' + b"9" * 4000 + b"}",
        code="VALIDATION_ERROR",
    ),
    case(
        "int-5000-digits",
        "POST",
        "/accounts",
        b'{"Name": "x", "NumberOfEmployees": ' + b"9" * 5000 + b"}",
        code={"INVALID_JSON", "VALIDATION_ERROR"},
    ),
    case(
        "negative-employees",
        "POST",
        "/accounts",
        b'{"Name": "x", "NumberOfEmployees": -1}',
        code="VALIDATION_ERROR",
    ),
    case(
        "bool-as-number",
        "POST",
        "/accounts",
        b'{"Name": "x", "NumberOfEmployees": true}',
        code="VALIDATION_ERROR",
    ),
    case(
        "float-employees",
        "POST",
        "/accounts",
        b'{"Name": "x", "NumberOfEmployees": 1.5}',
        code="VALIDATION_ERROR",
    ),
    case(
        "date-feb-30",
        "POST",
        "/opportunities",
        b'{"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-02-30"}',
        code="VALIDATION_ERROR",
    ),
    case(
        "date-with-time",
        "POST",
        "/opportunities",
        b'{"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-02-01T00:00:00Z"}',
        code="VALIDATION_ERROR",
    ),
    case(
        "stage-lowercase",
        "POST",
        "/opportunities",
        b'{"Name": "x", "StageName": "prospecting", "CloseDate": "2026-02-01"}',
        code="VALIDATION_ERROR",
    ),
    case(
        "email-injection",
        "POST",
        "/contacts",
        b'{"FirstName": "a", "LastName": "b", "Email": "a@b.c\\r\\nBcc: x@y.z"}',
        code="VALIDATION_ERROR",
    ),
    case(
        "reference-wrong-object",
        "POST",
        "/contacts",
        b'{"FirstName": "a", "LastName": "b", "AccountId": "0035g0000000001AAA"}',
        code="VALIDATION_ERROR",
    ),
    case("batch-empty", "POST", "/batch/accounts", b"[]", code="MISSING_PARAMETERS"),
    case("batch-object", "POST", "/batch/accounts", b'{"Name": "x"}', code="VALIDATION_ERROR"),
    case(
        "batch-501",
        "POST",
        "/batch/accounts",
        json.dumps([{"Name": "x"}] * 501),
        status=413,
        code="PAYLOAD_TOO_LARGE",
    ),
    case("batch-of-nulls", "POST", "/batch/accounts", b'[null, 1, "x", []]', status=201),
    case(
        "soql-too-long",
        "POST",
        "/query",
        json.dumps({"soql": "SELECT Id FROM Account WHERE Name = '" + "x" * 20_000 + "'"}),
        code="QUERY_ERROR",
    ),
    case(
        "soql-nul", "POST", "/query", b'{"soql": "SELECT Id FROM Account\\u0000; DELETE"}', code="QUERY_ERROR"
    ),
    case(
        "soql-unicode-quote",
        "POST",
        "/query",
        '{"soql": "SELECT Id FROM Account WHERE Name = \u2019x\u2019"}',
        code="QUERY_ERROR",
    ),
    case("soql-number", "POST", "/query", b'{"soql": 1}', code="VALIDATION_ERROR"),
    case(
        "soql-and-extra",
        "POST",
        "/query",
        b'{"soql": "SELECT Id FROM Account", "limit": 1}',
        code="VALIDATION_ERROR",
    ),
    # -- content types ------------------------------------------------------------------------------
    case(
        "ct-text-plain",
        "POST",
        "/accounts",
        b'{"Name": "x"}',
        headers=(("Content-Type", "text/plain"),),
        status=415,
        code="UNSUPPORTED_MEDIA_TYPE",
    ),
    case(
        "ct-none",
        "POST",
        "/accounts",
        b'{"Name": "x"}',
        headers=(),
        status=415,
        code="UNSUPPORTED_MEDIA_TYPE",
    ),
    case(
        "ct-form",
        "POST",
        "/accounts",
        b"Name=x",
        headers=(("Content-Type", "application/x-www-form-urlencoded"),),
        status=415,
        code="UNSUPPORTED_MEDIA_TYPE",
    ),
    case(
        "ct-multipart",
        "POST",
        "/accounts",
        b"--b\r\n\r\nx\r\n--b--",
        headers=(("Content-Type", "multipart/form-data; boundary=b"),),
        status=415,
        code="UNSUPPORTED_MEDIA_TYPE",
    ),
    case(
        "ct-xml",
        "POST",
        "/accounts",
        b"<Name>x</Name>",
        headers=(("Content-Type", "application/xml"),),
        status=415,
        code="UNSUPPORTED_MEDIA_TYPE",
    ),
    case(
        "ct-utf16-charset",
        "POST",
        "/accounts",
        b'{"Name": "x"}',
        headers=(("Content-Type", "application/json; charset=utf-16"),),
        status=415,
        code="UNSUPPORTED_MEDIA_TYPE",
    ),
    case(
        "ct-star",
        "POST",
        "/accounts",
        b'{"Name": "x"}',
        headers=(("Content-Type", "*/*"),),
        status=415,
        code="UNSUPPORTED_MEDIA_TYPE",
    ),
    case(
        "ct-empty",
        "POST",
        "/accounts",
        b'{"Name": "x"}',
        headers=(("Content-Type", ""),),
        status=415,
        code="UNSUPPORTED_MEDIA_TYPE",
    ),
    case(
        "ct-garbage",
        "POST",
        "/accounts",
        b'{"Name": "x"}',
        headers=(("Content-Type", ";;;==="),),
        status=415,
        code="UNSUPPORTED_MEDIA_TYPE",
    ),
    case(
        "ct-long",
        "POST",
        "/accounts",
        b'{"Name": "x"}',
        headers=(("Content-Type", "application/json; x=" + "y" * 4000),),
        status=201,
    ),
    case(
        "ct-two-headers",
        "POST",
        "/accounts",
        b'{"Name": "x"}',
        headers=(JSON_CT, ("Content-Type", "text/plain")),
        status=415,
        code="UNSUPPORTED_MEDIA_TYPE",
    ),
    case(
        "ct-text-query",
        "POST",
        "/query",
        b'{"soql": "SELECT Id FROM Account"}',
        headers=(("Content-Type", "text/plain"),),
        status=415,
        code="UNSUPPORTED_MEDIA_TYPE",
    ),
    case(
        "ct-text-patch",
        "PATCH",
        f"/accounts/{ACCOUNT_ID}",
        b'{"Phone": "1"}',
        headers=(("Content-Type", "text/plain"),),
        status=415,
        code="UNSUPPORTED_MEDIA_TYPE",
    ),
    case(
        "ct-text-batch",
        "POST",
        "/batch/accounts",
        b'[{"Name": "x"}]',
        headers=(("Content-Type", "text/plain;charset=UTF-8"),),
        status=415,
        code="UNSUPPORTED_MEDIA_TYPE",
    ),
    case(
        "ct-json-uppercase",
        "POST",
        "/accounts",
        b'{"Name": "x"}',
        headers=(("Content-Type", "APPLICATION/JSON; CHARSET=UTF-8"),),
        status=201,
    ),
    # -- cursors ------------------------------------------------------------------------------------
    case("cursor-random", "POST", "/query", b'{"next": "abc"}', code="QUERY_ERROR"),
    case("cursor-int", "POST", "/query", b'{"next": 1}', code="QUERY_ERROR"),
    case("cursor-list", "POST", "/query", b'{"next": ["c1"]}', code="QUERY_ERROR"),
    case("cursor-object", "POST", "/query", b'{"next": {"o": "Account"}}', code="QUERY_ERROR"),
    case("cursor-true", "POST", "/query", b'{"next": true}', code="QUERY_ERROR"),
    case("cursor-null-alone", "POST", "/query", b'{"next": null}', code="MISSING_PARAMETERS"),
    case("cursor-empty", "POST", "/query", b'{"next": ""}', code="QUERY_ERROR"),
    case(
        "cursor-huge",
        "POST",
        "/query",
        json.dumps({"next": "c1." + "A" * 200_000 + "." + "B" * 43}),
        code="QUERY_ERROR",
    ),
    case(
        "cursor-bare-locator",
        "POST",
        "/query",
        json.dumps({"next": _cursor("/services/data/v62.0/query/01g5g0000000000AAA-2000")}),
        code="QUERY_ERROR",
    ),
    case(
        "cursor-url",
        "POST",
        "/query",
        json.dumps({"next": "/services/data/v62.0/query/01g5g0000000000AAA-2000"}),
        code="QUERY_ERROR",
    ),
    case(
        "cursor-other-host",
        "POST",
        "/query",
        json.dumps({"next": _cursor("https://evil.example/x")}),
        code="QUERY_ERROR",
    ),
    case(
        "cursor-unsigned-payload",
        "POST",
        "/query",
        json.dumps(
            {
                "next": "c1."
                + _cursor(
                    '{"o":"Claim__c","l":"/services/data/v62.0/query/01g5g0000000000AAA-2000","x":9999999999}'
                )
                + "."
                + "A" * 43
            }
        ),
        code="QUERY_ERROR",
    ),
    case("cursor-no-tag", "POST", "/query", json.dumps({"next": "c1." + _cursor("{}")}), code="QUERY_ERROR"),
    case(
        "cursor-bad-base64", "POST", "/query", json.dumps({"next": "c1.!!!!." + "A" * 43}), code="QUERY_ERROR"
    ),
    case(
        "cursor-unicode", "POST", "/query", json.dumps({"next": "c1.\u00e9\u00e9.AAAA"}), code="QUERY_ERROR"
    ),
    case(
        "cursor-and-soql",
        "POST",
        "/query",
        json.dumps({"next": "c1.x.y", "soql": "SELECT Id FROM Account"}),
        code="QUERY_ERROR",
    ),
    # -- ids and paths ------------------------------------------------------------------------------
    case("id-14", "GET", "/accounts/0015g000000000", body=None, status={400, 404}),
    case("id-16", "GET", "/accounts/0015g00000000001", body=None, status={400, 404}),
    case("id-19", "GET", "/accounts/0015g0000000001AAAA", body=None, status={400, 404}),
    case("id-wrong-prefix", "GET", "/accounts/0035g0000000001AAA", body=None, code="INVALID_ID"),
    case("id-wrong-checksum", "GET", "/accounts/0015g0000000001AAB", body=None, code="INVALID_ID"),
    case("id-lowercase-checksum", "GET", "/accounts/0015g0000000001aaa", body=None, code="INVALID_ID"),
    case(
        "id-fullwidth-digits",
        "GET",
        "/accounts/%EF%BC%90%EF%BC%90%EF%BC%915g0000000001AAA",
        body=None,
        status={400, 404},
    ),
    case("id-nul", "GET", "/accounts/001%00", body=None, status={400, 404}),
    case("id-dotdot", "GET", "/accounts/..", body=None, status={400, 404}),
    case("id-encoded-dotdot", "GET", "/accounts/%2e%2e", body=None, status={400, 404}),
    case("id-encoded-slash", "GET", "/accounts/001%2F5g0000000001AAA", body=None, status={400, 404}),
    case("id-very-long", "GET", "/accounts/" + "0" * 5000, body=None, status={400, 404}),
    case("id-sql", "GET", "/accounts/001'%20OR%201=1", body=None, status={400, 404}),
    case("id-emoji", "GET", "/accounts/%F0%9F%98%80", body=None, status={400, 404}),
    case("id-lone-surrogate-utf8", "GET", "/accounts/%ED%A0%80", body=None, status={400, 404}),
    case("id-invalid-percent", "GET", "/accounts/%zz", body=None, status={400, 404}),
    case("id-delete-wrong-prefix", "DELETE", "/contacts/0015g0000000001AAA", body=None, code="INVALID_ID"),
    case("id-patch-bad", "PATCH", "/opportunities/xyz", b'{"Name": "x"}', code="INVALID_ID"),
    case("path-double-slash", "GET", "//accounts/" + ACCOUNT_ID, body=None, status={400, 404}),
    case("path-trailing-slash", "GET", "/accounts/" + ACCOUNT_ID + "/", body=None, status={400, 404}),
    case(
        "path-query-string",
        "GET",
        f"/accounts/{ACCOUNT_ID}?fields=Secret__c&fields=x",
        body=None,
        status=404,
        code="NOT_FOUND",
    ),
    case("path-unknown", "GET", "/sobjects/Claim__c", body=None, status=404, code="NOT_FOUND"),
    # -- methods ------------------------------------------------------------------------------------
    case(
        "put-record",
        "PUT",
        f"/accounts/{ACCOUNT_ID}",
        b'{"Name": "x"}',
        status=405,
        code="METHOD_NOT_ALLOWED",
    ),
    case(
        "post-record",
        "POST",
        f"/accounts/{ACCOUNT_ID}",
        b'{"Name": "x"}',
        status=405,
        code="METHOD_NOT_ALLOWED",
    ),
    case("delete-collection", "DELETE", "/accounts", body=None, status=405, code="METHOD_NOT_ALLOWED"),
    case("patch-collection", "PATCH", "/contacts", b"{}", status=405, code="METHOD_NOT_ALLOWED"),
    case(
        "get-query",
        "GET",
        "/query?soql=SELECT+Id+FROM+Account",
        body=None,
        status=405,
        code="METHOD_NOT_ALLOWED",
    ),
    case("options-accounts", "OPTIONS", "/accounts", body=None, status=405, code="METHOD_NOT_ALLOWED"),
    case("trace-health", "TRACE", "/health", body=None, status=405, code="METHOD_NOT_ALLOWED"),
    case("unknown-method", "BREW", "/health", body=None, status=405, code="METHOD_NOT_ALLOWED"),
    case("delete-batch", "DELETE", "/batch/accounts", body=None, status=405, code="METHOD_NOT_ALLOWED"),
    case("get-batch-root", "GET", "/batch", body=None, status=404, code="NOT_FOUND"),
    # -- idempotency keys ---------------------------------------------------------------------------
    case(
        "key-too-long",
        "POST",
        "/accounts",
        b'{"Name": "x"}',
        headers=(JSON_CT, ("Idempotency-Key", "k" * 256)),
        code="VALIDATION_ERROR",
    ),
    case(
        "key-latin1-bytes",
        "POST",
        "/accounts",
        b'{"Name": "x"}',
        headers=(JSON_CT, ("Idempotency-Key", b"caf\xe9")),
        code="VALIDATION_ERROR",
    ),
    case(
        "key-utf8-bytes",
        "POST",
        "/accounts",
        b'{"Name": "x"}',
        headers=(JSON_CT, ("Idempotency-Key", "cl\u00e9".encode())),
        code="VALIDATION_ERROR",
    ),
    case(
        "key-cesu-surrogate",
        "POST",
        "/accounts",
        b'{"Name": "x"}',
        headers=(JSON_CT, ("Idempotency-Key", b"\xed\xa0\x80")),
        code="VALIDATION_ERROR",
    ),
    case(
        "key-two-headers",
        "POST",
        "/batch/accounts",
        b'[{"Name": "x"}]',
        headers=(JSON_CT, ("Idempotency-Key", "a"), ("Idempotency-Key", "b")),
        code="VALIDATION_ERROR",
    ),
    case(
        "key-on-invalid-body",
        "POST",
        "/accounts",
        b'{"Name": "\\ud800"}',
        headers=(JSON_CT, ("Idempotency-Key", "hostile-1")),
        code="INVALID_JSON",
    ),
    case(
        "key-on-query-ignored",
        "POST",
        "/query",
        b'{"soql": "SELECT Id FROM Account"}',
        headers=(JSON_CT, ("Idempotency-Key", "x y")),
        status=200,
    ),
]


def test_the_suite_is_big_enough() -> None:
    assert len(CASES) >= 100 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("hostile", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_answered_below_500_in_the_envelope(api: Api, hostile: Case) -> None:
    resp = api.raw(hostile.method, hostile.path, headers=hostile.headers, body=hostile.body)
    assert resp.status_code < 500, (resp.status_code, resp.text[:300])
    assert resp.status_code in hostile.statuses, (resp.status_code, resp.text[:300])
    body = _envelope(resp)
    if resp.status_code >= 400:
        assert body["success"] is False
        if hostile.codes:
            assert body["error_code"] in hostile.codes, body
    else:
        assert body["success"] is True


def _envelope(resp: RawResponse) -> dict[str, Any]:
    assert (resp.headers.get("Content-Type") or "").startswith("application/json"), resp.headers
    body: dict[str, Any] = resp.json()
    assert set(body) in ({"success", "data", "timestamp"}, {"success", "error", "error_code", "timestamp"}), (
        body
    )
    return body
