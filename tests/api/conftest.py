"""The CRM API through real HTTP: the Salesforce emulator and ``ApiServer`` (the real Lambda handler
behind a local HTTP server), started once per session in temporary directories and reset before
every test that uses ``api``."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from claimsync.crm import CrmSettings
from claimsync.salesforce.gateway import SalesforceGateway
from local.api_server import ApiServer
from local.salesforce_emulator.server import SalesforceCredentials, SalesforceEmulator
from local.tls import ensure_tls
from local.world import salesforce_endpoints, salesforce_gateway

# Small limits so that the tests can reach them cheaply.
TEST_SETTINGS = replace(
    CrmSettings(),
    max_body_bytes=256 * 1024,
    query_max_limit=2500,
    batch_max=500,
    retry_after_s=30,
    function_name="claimsync-crm-api-test",
    function_version="7",
)


@dataclass
class Api:
    url: str
    endpoints: dict[str, Any]
    server: ApiServer
    http: requests.Session

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.http.request(method, self.url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, **kwargs)

    def raw(
        self,
        method: str,
        path: str,
        *,
        headers: Sequence[tuple[str, str | bytes]] = (),
        body: bytes | None = None,
    ) -> RawResponse:
        """A request exactly as given (repeated headers, odd bytes, any path), over http.client."""
        target = urlsplit(self.url)
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return RawResponse(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    # -- the emulator's admin interface ----------------------------------------------------------------
    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        sf = self.endpoints["salesforce"]
        resp = requests.request(method, sf["admin_url"] + path, verify=sf["ca_cert"], timeout=60, **kwargs)
        assert resp.status_code < 300, (path, resp.status_code, resp.text[:300])
        return resp.json()

    def sf_counters(self) -> dict[str, Any]:
        counters: dict[str, Any] = self.admin("GET", "/counters")
        return counters

    @property
    def gateway(self) -> SalesforceGateway:
        """The gateway the handler uses (one per process, like a warm Lambda)."""
        return self.server.gateway

    def seed_gateway(self) -> SalesforceGateway:
        """A separate gateway for arranging data, so the handler's counters stay its own."""
        return salesforce_gateway(self.endpoints)


@dataclass
class RawResponse:
    """The parts of ``requests.Response`` that ``ok`` and ``refused`` read."""

    status_code: int
    headers: Message
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


@pytest.fixture(scope="session")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("crm-api")
    tls = ensure_tls(state / "tls")
    creds = SalesforceCredentials.generate()
    emulator = SalesforceEmulator(state / "salesforce", tls, creds).start()
    yield {
        "state_dir": str(state),
        "salesforce": salesforce_endpoints(emulator.endpoints, creds, tls),
    }
    emulator.stop()


@pytest.fixture(scope="session")
def api_server(endpoints: dict[str, Any]) -> Iterator[ApiServer]:
    server = ApiServer(
        endpoints,
        settings=replace(TEST_SETTINGS, ca_bundle=endpoints["salesforce"]["ca_cert"]),
    ).start()
    yield server
    server.stop()


@pytest.fixture
def api(api_server: ApiServer, endpoints: dict[str, Any]) -> Iterator[Api]:
    """The running API over an emptied Salesforce: no records, faults, or used API allocation."""
    # Unit tests may have re-configured the handler module: serve with this server's gateway again.
    api_server.configure_handler()
    client = Api(api_server.url, endpoints, api_server, requests.Session())
    client.admin("POST", "/reset")
    client.admin("POST", "/limits", json={"daily_api_limit": 100_000, "used": 0})
    yield client
    client.admin("DELETE", "/faults")
    client.http.close()


def ok(resp: requests.Response, status: int = 200) -> Any:
    """The ``data`` of a success envelope, after checking the envelope."""
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"success", "data", "timestamp"}, body
    assert body["success"] is True
    assert body["timestamp"].endswith("Z")
    return body["data"]


def refused(resp: requests.Response, status: int, code: str) -> str:
    """The ``error`` message of an error envelope, after checking status, code and envelope."""
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"success", "error", "error_code", "timestamp"}, body
    assert body["success"] is False
    assert body["error_code"] == code, body
    message: str = body["error"]
    return message
