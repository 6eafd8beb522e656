"""The Salesforce gateway at its HTTP seam: a fake ``requests.Session`` that answers with real
``requests.Response`` objects. What the contract tests prove against the emulator (the wire protocol)
is not repeated here; this is the gateway's own logic: the one table from Salesforce error to
exception, the single request call site (login included), one re-login on an expired session, and
how bodies are encoded and counted."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable
from typing import Any

import pytest
import requests

from claimsync.salesforce.auth import SalesforceCredentials
from claimsync.salesforce.errors import (
    SalesforceAuthError,
    SalesforceError,
    SalesforceLimitExceeded,
    SalesforceLockError,
    SalesforceNotFound,
    SalesforceQueryError,
    SalesforceRequestError,
    SalesforceUnavailable,
    error_from_response,
)
from claimsync.salesforce.gateway import GZIP_MIN_BYTES, SalesforceGateway

pytestmark = pytest.mark.unit

TOKEN_URL = "https://login.example.test/services/oauth2/token"
INSTANCE = "https://org.example.test"
CREDENTIALS = SalesforceCredentials(
    token_url=TOKEN_URL, grant="password", client_id="cid", client_secret="cs", username="u", password="p"
)


def response(status: int, body: Any = None, *, raw: bytes | None = None, **headers: str) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
    resp.headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    return resp


def token(n: int) -> requests.Response:
    return response(200, {"access_token": f"token-{n}", "instance_url": INSTANCE + "/"})


class FakeHttp:
    """Only ``request``: a gateway that sent anything another way would fail here."""

    def __init__(self, answers: Iterable[requests.Response | Exception]) -> None:
        self.answers = list(answers)
        self.sent: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        data = kwargs.get("data")
        position = data.tell() if isinstance(data, io.IOBase) else None
        self.sent.append({"method": method, "url": url, "position": position, **kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def gateway(*answers: requests.Response | Exception) -> tuple[SalesforceGateway, FakeHttp]:
    http = FakeHttp(answers)
    return SalesforceGateway(CREDENTIALS, http=http, api_version="62.0"), http  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (
            400,
            [{"errorCode": "MALFORMED_QUERY", "message": "unexpected token"}],
            SalesforceQueryError,
            "MALFORMED_QUERY",
        ),
        (403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED"}], SalesforceLimitExceeded, "REQUEST_LIMIT_EXCEEDED"),
        (500, [{"errorCode": "UNABLE_TO_LOCK_ROW"}], SalesforceLockError, "UNABLE_TO_LOCK_ROW"),
        (401, [{"errorCode": "INVALID_SESSION_ID"}], SalesforceAuthError, "INVALID_SESSION_ID"),
        (400, [{"errorCode": "REQUIRED_FIELD_MISSING"}], SalesforceRequestError, "REQUIRED_FIELD_MISSING"),
        (502, [{"errorCode": "SOMETHING_NEW"}], SalesforceUnavailable, "SOMETHING_NEW"),
        (503, None, SalesforceUnavailable, "UNKNOWN_ERROR"),
        (404, None, SalesforceNotFound, "NOT_FOUND"),
        (404, [{"errorCode": "NOT_FOUND", "message": "gone"}], SalesforceNotFound, "NOT_FOUND"),
        (
            400,
            {"error": "invalid_grant", "error_description": "authentication failure"},
            SalesforceRequestError,
            "invalid_grant",
        ),
        (400, {"unexpected": "shape"}, SalesforceRequestError, "UNKNOWN_ERROR"),
    ],
)
def test_one_table_from_salesforce_error_to_exception(
    status: int, body: Any, expected: type[SalesforceError], code: str
) -> None:
    error = error_from_response(response(status, body), "query")
    assert type(error) is expected
    assert (error.code, error.status, error.operation) == (code, status, "query")


def test_salesforce_messages_stay_out_of_the_exception_text() -> None:
    body = [
        {
            "errorCode": "STRING_TOO_LONG",
            "message": "Name: data value too large: SMITH^JOHN",
            "fields": ["Name"],
        }
    ]
    error = error_from_response(response(400, body), "collections_upsert")
    assert str(error) == "STRING_TOO_LONG (collections_upsert, HTTP 400)"
    assert error.detail == "Name: data value too large: SMITH^JOHN"
    assert error.fields == ("Name",)
    html = error_from_response(response(503, raw=b"<html>down</html>"), "query")
    assert (type(html), html.code, html.detail) == (SalesforceUnavailable, "UNKNOWN_ERROR", "")


def test_login_and_every_call_go_through_the_one_request_site() -> None:
    gw, http = gateway(token(1), response(201, {"id": "001A", "success": True}))
    assert gw.create("Account", {"Name": "Acme"}) == "001A"
    login, call = http.sent
    assert (login["method"], login["url"]) == ("POST", TOKEN_URL)
    assert login["data"] == {
        "grant_type": "password",
        "client_id": "cid",
        "client_secret": "cs",
        "username": "u",
        "password": "p",
    }
    assert (call["method"], call["url"]) == ("POST", f"{INSTANCE}/services/data/v62.0/sobjects/Account/")
    assert call["headers"]["Authorization"] == "Bearer token-1"
    assert all(sent["timeout"] == (5.0, 30.0) and sent["verify"] is True for sent in http.sent)


def test_an_expired_session_is_renewed_once_and_the_call_repeated() -> None:
    expired = response(401, [{"errorCode": "INVALID_SESSION_ID"}])
    gw, http = gateway(token(1), expired, token(2), response(200, {"done": True, "records": []}))
    assert gw.query_page("SELECT Id FROM Account")["done"] is True
    assert [s["url"] == TOKEN_URL for s in http.sent] == [True, False, True, False]
    assert http.sent[3]["headers"]["Authorization"] == "Bearer token-2"
    assert gw.stats.logins == 2
    assert gw.stats.calls["query"] == 2

    gw, _ = gateway(token(1), expired, token(2), expired)
    with pytest.raises(SalesforceAuthError, match="INVALID_SESSION_ID"):
        gw.query_page("SELECT Id FROM Account")


@pytest.mark.parametrize(
    ("answer", "expected", "code"),
    [
        (
            response(400, {"error": "invalid_grant", "error_description": "authentication failure"}),
            SalesforceAuthError,
            "invalid_grant",
        ),
        (response(503, raw=b"maintenance"), SalesforceUnavailable, "SERVER_UNAVAILABLE"),
        (requests.ConnectionError("refused"), SalesforceUnavailable, "ConnectionError"),
    ],
)
def test_a_failed_login(
    answer: requests.Response | Exception, expected: type[SalesforceError], code: str
) -> None:
    gw, _ = gateway(answer)
    with pytest.raises(expected) as caught:
        gw.login()
    assert (caught.value.code, caught.value.operation) == (code, "login")
    assert not gw.logged_in


def test_json_bodies_over_the_threshold_are_gzipped_but_bulk_csv_is_not() -> None:
    fields = {"Description": "x" * (GZIP_MIN_BYTES + 1)}
    csv = b"Name\n" + b"y" * (GZIP_MIN_BYTES + 1)
    gw, http = gateway(token(1), response(201, {"id": "001A"}), response(201))
    gw.create("Account", fields)
    gw.bulk_upload("750J", csv)
    _, create, upload = http.sent
    assert create["headers"]["Content-Encoding"] == "gzip"
    assert create["headers"]["Content-Type"] == "application/json"
    plain = json.dumps(fields, separators=(",", ":")).encode()
    assert gzip.decompress(create["data"]) == plain
    assert "Content-Encoding" not in upload["headers"]
    assert (upload["data"], upload["headers"]["Content-Type"]) == (csv, "text/csv")
    assert gw.stats.body_bytes == len(plain) + len(csv)
    assert gw.stats.bytes_sent == len(create["data"]) + len(csv)


def test_a_file_is_sent_from_its_start_on_every_attempt() -> None:
    document = io.BytesIO(b"Name\nAcme\n")
    document.seek(0, 2)
    expired = response(401, [{"errorCode": "INVALID_SESSION_ID"}])
    gw, http = gateway(token(1), expired, token(2), response(201))
    gw.bulk_upload("750J", document)
    uploads = [s for s in http.sent if s["url"] != TOKEN_URL]
    assert [s["position"] for s in uploads] == [0, 0]
    assert gw.stats.body_bytes == 2 * len(b"Name\nAcme\n")


def test_the_orgs_api_usage_is_read_from_each_answer() -> None:
    gw, _ = gateway(token(1), response(200, {}, Sforce_Limit_Info="api-usage=25/15000"))
    gw.limits()
    assert (gw.stats.api_used, gw.stats.api_max) == (25, 15000)
