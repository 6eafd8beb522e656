"""Fixtures for the CollaborateMD emulator contract tests: a real HTTPS emulator, plain ``requests``.

``verify=`` is passed on every request: a Session's ``verify`` attribute loses to REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from local.collaboratemd_emulator.engine import EmulatorConfig
from local.collaboratemd_emulator.generator import GeneratorSettings, generate_rows
from local.collaboratemd_emulator.server import CmdCredentials, CollaborateMDEmulator
from local.tls import TlsMaterial, ensure_tls

NS = "{http://www.collaboratemd.com/api/v1/}"
JSON = "application/json"
MAX_POLLS = 20  # every poll loop in these tests is bounded by this


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return ensure_tls(tmp_path_factory.mktemp("cmd-tls"))


@pytest.fixture(scope="module")
def creds() -> CmdCredentials:
    return CmdCredentials.generate()


@pytest.fixture(scope="module")
def sample_rows() -> list[dict[str, str]]:
    return generate_rows(GeneratorSettings(claims=120, seed=7))


StartEmulator = Callable[..., CollaborateMDEmulator]


@pytest.fixture
def start_emulator(tmp_path: Path, tls: TlsMaterial, creds: CmdCredentials) -> Iterator[StartEmulator]:
    """Start emulators on ``tmp_path/state`` (same state dir each time); all are stopped at teardown."""
    started: list[CollaborateMDEmulator] = []

    def start(**kwargs: Any) -> CollaborateMDEmulator:
        emulator = CollaborateMDEmulator(tmp_path / "state", creds, tls=tls, **kwargs).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@dataclass
class CmdClient:
    """The two report calls and the admin interface, spoken with plain ``requests``."""

    url: str
    creds: CmdCredentials
    ca: str
    timeout: float = 10.0

    def run(
        self,
        *,
        report: str | None = None,
        filter_id: str | None = None,
        customer: str | None = None,
        accept: str | None = JSON,
        auth: tuple[str, str] | bool | None = True,
        timeout: float | None = None,
    ) -> requests.Response:
        path = (
            f"/v1/customer/{customer or self.creds.customer}/reports/{report or self.creds.report_id}"
            f"/filter/{filter_id or self.creds.filter_id}/run"
        )
        return self.post(path, accept=accept, auth=auth, timeout=timeout)

    def results(
        self,
        request_id: str,
        *,
        accept: str | None = JSON,
        auth: tuple[str, str] | bool | None = True,
        timeout: float | None = None,
    ) -> requests.Response:
        path = f"/v1/customer/{self.creds.customer}/reports/results/{request_id}"
        return self.post(path, accept=accept, auth=auth, timeout=timeout)

    def post(
        self,
        path: str,
        *,
        accept: str | None = JSON,
        auth: tuple[str, str] | bool | None = True,
        timeout: float | None = None,
    ) -> requests.Response:
        credentials = (self.creds.username, self.creds.password) if auth is True else auth or None
        headers = {"Accept": accept}  # None removes requests' default "*/*"
        return requests.post(
            self.url + path,
            headers=headers,
            auth=credentials,
            verify=self.ca,
            timeout=timeout or self.timeout,
        )

    def start_report(self) -> str:
        body = self.run().json()
        assert body["Status"] == "SUCCESS", body
        assert body["Identifier"]
        return str(body["Identifier"])

    def poll(self, request_id: str) -> tuple[int, dict[str, Any]]:
        """Poll until the status is no longer REPORT RUNNING; returns (polls answered RUNNING, body)."""
        for running in range(MAX_POLLS):
            body = self.results(request_id).json()
            if body["Status"] != "REPORT RUNNING":
                return running, body
        raise AssertionError(f"still running after {MAX_POLLS} polls")

    def fetch_rows_zip(self) -> zipfile.ZipFile:
        _, body = self.poll(self.start_report())
        assert body["Status"] == "SUCCESS", body
        return zipfile.ZipFile(io.BytesIO(base64.b64decode(body["Data"], validate=True)))

    def admin(self, method: str, path: str = "", **kwargs: Any) -> requests.Response:
        return requests.request(
            method, f"{self.url}/__admin{path}", verify=self.ca, timeout=self.timeout, **kwargs
        )


@pytest.fixture(scope="module")
def shared_emulator(
    tmp_path_factory: pytest.TempPathFactory, tls: TlsMaterial, creds: CmdCredentials
) -> Iterator[CollaborateMDEmulator]:
    # One server per module: stopping a werkzeug server takes up to half a second.
    emulator = CollaborateMDEmulator(tmp_path_factory.mktemp("cmd-state"), creds, tls=tls).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(
    shared_emulator: CollaborateMDEmulator, sample_rows: list[dict[str, str]]
) -> CollaborateMDEmulator:
    """The module's emulator, back to a fresh state: sample rows, default config, no calls/faults/reports.

    Tests that leave work behind in the server (a delayed call) use ``start_emulator`` instead.
    """
    shared_emulator.set_rows(sample_rows)
    shared_emulator.engine.update_config(EmulatorConfig().to_json())
    shared_emulator.engine.reset()
    return shared_emulator


ClientFor = Callable[[CollaborateMDEmulator], CmdClient]


@pytest.fixture
def client_for(creds: CmdCredentials, tls: TlsMaterial) -> ClientFor:
    return lambda emulator: CmdClient(emulator.url, creds, str(tls.ca_cert))


@pytest.fixture
def cmd(emulator: CollaborateMDEmulator, client_for: ClientFor) -> CmdClient:
    return client_for(emulator)
