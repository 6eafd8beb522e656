"""Salesforce failures through real HTTP: session expiry, API limits, 503s, bad credentials, health;
the session reused across warm requests; no request values in the logs."""

from __future__ import annotations

import pytest

from claimsync.crm import service
from claimsync.salesforce.auth import SalesforceCredentials
from claimsync.salesforce.gateway import SalesforceGateway
from handlers import _crm_edge
from local.world import salesforce_secret
from tests.api.conftest import Api, ok, refused

pytestmark = pytest.mark.api


def test_warm_requests_reuse_the_session(api: Api) -> None:
    ok(api.get("/health"))  # logs in if this process has not yet
    logins = api.gateway.stats.logins
    emulator_logins = api.sf_counters()["logins"]
    account_id = ok(api.post("/accounts", json={"Name": "Warm"}), 201)["record_id"]
    for _ in range(20):
        ok(api.get(f"/accounts/{account_id}"))
    assert api.gateway.stats.logins == logins
    assert api.sf_counters()["logins"] == emulator_logins


def test_expired_session_means_one_transparent_re_login(api: Api) -> None:
    account_id = ok(api.post("/accounts", json={"Name": "Expiring"}), 201)["record_id"]
    logins = api.gateway.stats.logins
    api.admin("POST", "/expire-tokens")
    assert ok(api.get(f"/accounts/{account_id}"))["Name"] == "Expiring"
    assert api.gateway.stats.logins == logins + 1
    ok(api.get(f"/accounts/{account_id}"))
    assert api.gateway.stats.logins == logins + 1


def test_exhausted_api_limit_is_429_with_retry_after(api: Api) -> None:
    account_id = ok(api.post("/accounts", json={"Name": "Limited"}), 201)["record_id"]
    api.admin("POST", "/limits", json={"daily_api_limit": 1000, "used": 1000})
    resp = api.get(f"/accounts/{account_id}")
    refused(resp, 429, "RATE_LIMITED")
    assert resp.headers["Retry-After"] == str(api.server.settings.retry_after_s)
    refused(api.post("/query", json={"soql": "SELECT Id FROM Account"}), 429, "RATE_LIMITED")
    # Health stays 200, degraded.
    assert ok(api.get("/health"))["status"] == "degraded"
    api.admin("POST", "/limits", json={"daily_api_limit": 100_000, "used": 0})
    ok(api.get(f"/accounts/{account_id}"))


@pytest.mark.parametrize(
    ("kind", "method", "path", "body"),
    [
        ("sobject_get", "GET", "/accounts/{id}", None),
        ("sobject_update", "PATCH", "/accounts/{id}", {"Phone": "1"}),
        ("sobject_delete", "DELETE", "/accounts/{id}", None),
        ("sobject_create", "POST", "/accounts", {"Name": "x"}),
        ("query", "POST", "/query", {"soql": "SELECT Id FROM Account"}),
    ],
)
def test_salesforce_503_is_502_upstream_error(
    api: Api, kind: str, method: str, path: str, body: object
) -> None:
    account_id = ok(api.post("/accounts", json={"Name": "Flaky"}), 201)["record_id"]
    api.admin("POST", "/faults", json={"kind": "unavailable", "on": kind, "count": 1})
    message = refused(api.call(method, path.format(id=account_id), json=body), 502, "UPSTREAM_ERROR")
    assert "Salesforce" in message and "503" not in message  # no internals
    assert api.call(method, path.format(id=account_id), json=body).status_code < 300  # next call fine


def test_health_healthy_and_degraded(api: Api) -> None:
    assert ok(api.get("/health")) == {
        "status": "healthy",
        "salesforce_connected": True,
        "function": "claimsync-crm-api-test",
        "version": "7",
    }
    api.admin("POST", "/faults", json={"kind": "unavailable", "on": "*", "count": 1000})
    assert ok(api.get("/health")) == {
        "status": "degraded",
        "salesforce_connected": False,
        "function": "claimsync-crm-api-test",
        "version": "7",
    }


def test_health_when_salesforce_is_unreachable(api: Api) -> None:
    unreachable = _gateway(api, token_url="https://127.0.0.1:9/services/oauth2/token")
    with _using(api, unreachable):
        assert ok(api.get("/health"))["status"] == "degraded"
        refused(api.get("/accounts/0015g0000000001AAA"), 502, "UPSTREAM_ERROR")


def test_refused_credentials_are_502_auth_error(api: Api) -> None:
    wrong = _gateway(api, password="wrong")
    with _using(api, wrong):
        message = refused(api.post("/accounts", json={"Name": "x"}), 502, "AUTH_ERROR")
        assert "wrong" not in message
        assert ok(api.get("/health"))["salesforce_connected"] is False


def test_unexpected_errors_are_500_without_internals(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object, **__: object) -> None:
        raise KeyError("Patient Jane Doe")

    monkeypatch.setattr(service, "get_record", boom)
    message = refused(api.get("/accounts/0015g0000000001AAA"), 500, "INTERNAL_ERROR")
    assert "Jane" not in message and "KeyError" not in message


def test_logs_hold_no_request_values(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    marker = "Zebediah Quux-Marker"
    account_id = ok(api.post("/accounts", json={"Name": marker, "Description": marker}), 201)["record_id"]
    ok(api.get(f"/accounts/{account_id}"))
    refused(api.post("/accounts", json={"Name": marker, "Colour": marker}), 400, "VALIDATION_ERROR")
    soql = f"SELECT Id FROM User WHERE Name = '{marker}'"  # noqa: S608 - SOQL, refused by the guard
    refused(api.post("/query", json={"soql": soql}), 400, "QUERY_ERROR")
    refused(api.post("/accounts", json={"Name": marker * 20}), 400, "VALIDATION_ERROR")
    api.admin("POST", "/faults", json={"kind": "unavailable", "on": "sobject_get", "count": 1})
    refused(api.get(f"/accounts/{account_id}"), 502, "UPSTREAM_ERROR")
    formatter = _crm_edge.logger.registered_formatter  # the JSON lines CloudWatch would receive
    lines = "\n".join(formatter.format(r) for r in caplog.records if r.name == _crm_edge.logger.name)
    assert '"message":"request"' in lines and '"error_code":"UPSTREAM_ERROR"' in lines  # it did log
    assert marker not in lines
    assert account_id not in lines  # path values are not logged either


# -- helpers ---------------------------------------------------------------------------------------


def _gateway(api: Api, **changes: str) -> SalesforceGateway:
    creds = SalesforceCredentials.from_secret({**salesforce_secret(api.endpoints), **changes})
    return SalesforceGateway(creds, ca_bundle=api.endpoints["salesforce"]["ca_cert"], timeout_s=5)


class _using:
    """Temporarily serve with another gateway (the ``_crm_edge.configure`` seam)."""

    def __init__(self, api: Api, gateway: SalesforceGateway) -> None:
        self.api, self.gateway = api, gateway

    def __enter__(self) -> None:
        server = self.api.server
        _crm_edge.configure(
            gateway=self.gateway,
            settings=server.settings,
            cursor_key=server.cursor_key,
            idempotency=server.idempotency,
        )

    def __exit__(self, *exc: object) -> None:
        self.api.server.configure_handler()
