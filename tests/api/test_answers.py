"""The CRM API's routes and refusals as plain values (``claimsync.crm.api``, ``claimsync.crm.refusals``):
no Lambda event, no Powertools resolver, no server; services and gateway are in-memory fakes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from claimsync.crm import (
    ACCOUNT,
    CrmSettings,
    CursorCodec,
    ForeignRecords,
    IdempotencyInProgress,
    MissingParameters,
    api,
    refusals,
)
from claimsync.crm.idempotency import REPLAYED_HEADER, KeyedRequest
from claimsync.crm.routes import ROUTES, Route
from claimsync.salesforce.errors import (
    SalesforceAuthError,
    SalesforceLimitExceeded,
    SalesforceQueryError,
    SalesforceRequestError,
    SalesforceUnavailable,
)
from claimsync.salesforce.gateway import SalesforceGateway
from tests.api.test_domain import FakeGateway

pytestmark = [pytest.mark.api, pytest.mark.unit]


class MemoryGateway(FakeGateway):
    """The batch tests' fake gateway, plus the calls a single create (keyed) and a health check make."""

    def upsert(self, sobject: str, field: str, value: str, fields: dict[str, Any]) -> tuple[str, bool]:
        (outcome,) = self.collections_upsert(sobject, field, [{**fields, field: value}])
        return outcome.id or "", bool(outcome.created)

    def limits(self) -> dict[str, Any]:
        return {}


@dataclass
class FakeServices:
    """``claimsync.crm.api.Services`` in memory: keyed answers in a dict, the gateway a fake."""

    gateway: MemoryGateway = field(default_factory=MemoryGateway)
    config: CrmSettings = field(default_factory=lambda: replace(CrmSettings(), retry_after_s=7))
    remembered: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    forgotten: int = 0

    def settings(self) -> CrmSettings:
        return self.config

    def salesforce(self) -> SalesforceGateway:
        return self.gateway  # type: ignore[return-value]

    def cursors(self) -> CursorCodec:
        return CursorCodec(b"k" * 32)

    def remember(
        self, request: KeyedRequest, answer: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        slot = (request.scope, request.key)
        if slot in self.remembered:
            return self.remembered[slot], True
        self.remembered[slot] = answer()
        return self.remembered[slot], False

    def forget_salesforce(self) -> None:
        self.forgotten += 1


def route(method: str, path: str) -> Route:
    return next(r for r in ROUTES if (r.method, r.path) == (method, path))


def request(
    method: str, path: str, body: Any = None, *, key: str | None = None, **params: str
) -> api.Request:
    return api.Request(
        route=route(method, path),
        served=(ACCOUNT,),
        params=params,
        body=None if body is None else json.dumps(body),
        base64_body=False,
        content_types=["application/json"] if body is not None else [],
        idempotency_keys=[key] if key else [],
        caller=lambda: "arn:aws:iam::123456789012:user/a|",
    )


def test_routes_answer_as_plain_values() -> None:
    services = FakeServices()
    created = api.answer(request("POST", "/accounts", {"Name": "Acme"}), services)
    assert created.status == 201 and created.headers is None
    record_id = created.body["data"]["record_id"]
    assert created.body["data"] == {"record_id": record_id, "account_name": "Acme"}
    assert created.body["success"] is True and created.body["timestamp"].endswith("Z")
    got = api.answer(request("GET", "/accounts/{account_id}", account_id=record_id), services)
    assert got.status == 200 and got.body["data"] == {"Id": record_id, "Name": "Acme"}
    health = api.answer(request("GET", "/health"), services)
    assert health.body["data"]["status"] == "healthy" and health.notes == ()


def test_a_keyed_create_is_answered_once_and_replayed() -> None:
    services = FakeServices()
    first = api.answer(request("POST", "/accounts", {"Name": "Acme"}, key="k-1"), services)
    again = api.answer(request("POST", "/accounts", {"Name": "Acme"}, key="k-1"), services)
    assert first.status == again.status == 201
    assert first.headers is None and again.headers == {REPLAYED_HEADER: "true"}
    assert again.body == first.body and len(services.gateway.records) == 1


def test_a_health_check_that_cannot_build_the_gateway_is_degraded_with_a_warning() -> None:
    class NoSecret(FakeServices):
        def salesforce(self) -> SalesforceGateway:
            raise KeyError("the secret of Jane Doe")

    health = api.answer(request("GET", "/health"), NoSecret())
    assert health.status == 200 and health.body["data"]["status"] == "degraded"
    assert [(n.level, dict(n.fields)) for n in health.notes] == [("warning", {"error": "KeyError"})]


@pytest.mark.parametrize(
    ("exc", "status", "code", "headers"),
    [
        (MissingParameters("a JSON request body is required"), 400, "MISSING_PARAMETERS", None),
        (IdempotencyInProgress("still running"), 409, "IDEMPOTENCY_IN_PROGRESS", {"Retry-After": "1"}),
        (SalesforceQueryError("INVALID_FIELD", operation="query"), 400, "QUERY_ERROR", None),
        (SalesforceQueryError("INVALID_FIELD", operation="sobject_get"), 400, "VALIDATION_ERROR", None),
        (SalesforceRequestError("STRING_TOO_LONG", status=400), 400, "VALIDATION_ERROR", None),
        (SalesforceRequestError("ENTITY_IS_DELETED", status=404), 404, "NOT_FOUND", None),
        (SalesforceRequestError("INSUFFICIENT_ACCESS", status=403), 500, "INTERNAL_ERROR", None),
        (SalesforceLimitExceeded("REQUEST_LIMIT_EXCEEDED"), 429, "RATE_LIMITED", {"Retry-After": "7"}),
        (SalesforceUnavailable("SERVER_UNAVAILABLE"), 502, "UPSTREAM_ERROR", None),
        (KeyError("Patient Jane Doe"), 500, "INTERNAL_ERROR", None),
    ],
)
def test_each_error_is_answered_by_its_most_specific_entry(
    exc: Exception, status: int, code: str, headers: dict[str, str] | None
) -> None:
    answer = refusals.refusal(exc, FakeServices())
    assert (answer.status, answer.body["error_code"], answer.headers) == (status, code, headers)
    assert "Jane" not in json.dumps(answer.body) and "Jane" not in repr(answer.notes)
    (note,) = answer.notes
    assert note.level == ("error" if status >= 500 else "info")
    assert note.fields["error"] == type(exc).__name__ and note.fields["error_code"] == code


def test_refused_credentials_drop_the_gateway_and_foreign_records_warn() -> None:
    services = FakeServices()
    auth = refusals.refusal(SalesforceAuthError("INVALID_LOGIN"), services)
    assert (auth.status, auth.body["error_code"], services.forgotten) == (502, "AUTH_ERROR", 1)
    foreign = refusals.refusal(ForeignRecords("User"), services)
    assert (foreign.status, foreign.body["error_code"]) == (400, "QUERY_ERROR")
    assert [n.level for n in foreign.notes] == ["warning", "info"]
    assert foreign.notes[0].fields == {"record_type": "User"}


def test_unrouted_requests() -> None:
    missing = refusals.no_route(LookupError(), "GET", "/nope")
    assert (missing.status, missing.body["error_code"]) == (404, "NOT_FOUND")
    wrong = refusals.no_route(LookupError(), "PUT", "/accounts/001")
    assert (wrong.status, wrong.headers) == (405, {"Allow": "GET, PATCH, DELETE"})
    bad_id = refusals.no_route(LookupError(), "GET", "/accounts/001")
    assert (bad_id.status, bad_id.body["error_code"]) == (400, "INVALID_ID")


def test_the_crm_domain_imports_no_lambda_edge() -> None:
    """``claimsync.crm`` (every module) loads without the Powertools event handler, the handlers, the
    local world or the stacks: the edge is ``handlers._crm_edge`` alone."""
    probe = (
        "import pkgutil, importlib, sys, claimsync.crm as crm\n"
        "for m in pkgutil.iter_modules(crm.__path__): importlib.import_module(f'claimsync.crm.{m.name}')\n"
        "edge = ('aws_lambda_powertools.event_handler', 'handlers', 'local', 'stacks')\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in edge[1:] or n.startswith(edge[0])))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
