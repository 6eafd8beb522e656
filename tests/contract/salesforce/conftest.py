"""Fixtures for the Salesforce emulator contract tests: real clients (requests, simple-salesforce) only."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from local.salesforce_emulator.server import SalesforceCredentials, SalesforceEmulator
from local.tls import TlsMaterial, ensure_tls

API_VERSION = "62.0"


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return ensure_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def creds() -> SalesforceCredentials:
    return SalesforceCredentials.generate()


@pytest.fixture(scope="session")
def emu(
    tmp_path_factory: pytest.TempPathFactory, tls: TlsMaterial, creds: SalesforceCredentials
) -> Iterator[SalesforceEmulator]:
    emulator = SalesforceEmulator(tmp_path_factory.mktemp("sf-state"), tls, creds)
    emulator.start()
    yield emulator
    emulator.stop()


def new_session(tls: TlsMaterial) -> requests.Session:
    """A client session that trusts exactly the emulator's CA.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set on these machines) win over
    ``Session.verify``; ``trust_env = False`` scopes that to this session instead of changing the
    process environment for every other test.
    """
    s = requests.Session()
    s.trust_env = False
    s.verify = str(tls.ca_cert)
    return s


@pytest.fixture
def http(tls: TlsMaterial) -> requests.Session:
    return new_session(tls)


def client_credentials_token(
    emulator: SalesforceEmulator, creds: SalesforceCredentials, s: requests.Session
) -> str:
    r = s.post(
        emulator.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


@pytest.fixture
def clean(emu: SalesforceEmulator, http: requests.Session) -> SalesforceEmulator:
    """The shared emulator with no records, jobs, faults or counters, and the default daily limit."""
    assert http.post(emu.admin_url + "/reset").status_code == 200
    assert (
        http.post(emu.admin_url + "/limits", json={"daily_api_limit": 100_000, "used": 0}).status_code == 200
    )
    return emu


@pytest.fixture
def token(clean: SalesforceEmulator, creds: SalesforceCredentials, http: requests.Session) -> str:
    return client_credentials_token(clean, creds, http)


@pytest.fixture
def sf(clean: SalesforceEmulator, token: str, http: requests.Session) -> Salesforce:
    return Salesforce(instance_url=clean.instance_url, session_id=token, session=http, version=API_VERSION)


@pytest.fixture
def api(clean: SalesforceEmulator, token: str, http: requests.Session) -> Callable[..., requests.Response]:
    """Plain HTTP against ``/services/data/v62.0/<path>`` with the session token."""

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return http.request(
            method, f"{clean.instance_url}/services/data/v{API_VERSION}/{path}", headers=headers, **kwargs
        )

    return call


def wait_for(predicate: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def write_csv(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8", newline="")
    return str(path)
