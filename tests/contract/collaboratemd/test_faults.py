"""Injected faults: HTTP 5xx, slow responses, start and results statuses, corrupt ZIPs, malformed members."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from typing import Any

import pytest
import requests

from .conftest import ClientFor, CmdClient, StartEmulator

pytestmark = pytest.mark.contract


def queue(cmd: CmdClient, *faults: dict[str, Any]) -> None:
    response = cmd.admin("POST", "/faults", json=list(faults))
    assert response.status_code == 200, response.text
    assert response.json()["queued"] == len(faults)


@pytest.mark.parametrize("status", [500, 503])
def test_http_errors_then_recovery(cmd: CmdClient, status: int) -> None:
    queue(cmd, {"kind": "http_status", "status": status, "count": 2, "on": "run"})
    assert [cmd.run().status_code for _ in range(2)] == [status, status]
    request_id = cmd.start_report()  # recovered
    assert cmd.results(request_id).status_code == 200
    calls = cmd.admin("GET", "/calls").json()
    assert calls["injected_http_status"] == 2
    assert calls["run"] == 3
    assert cmd.admin("GET", "/faults").json()["faults"] == []


def test_http_error_on_results_only(cmd: CmdClient) -> None:
    queue(cmd, {"kind": "http_status", "status": 503, "on": "results"})
    request_id = cmd.start_report()  # the results-only fault does not fire on run
    assert cmd.results(request_id).status_code == 503
    polls, body = cmd.poll(request_id)
    assert body["Status"] == "SUCCESS"
    assert polls == 2  # the failed call did not count as a poll


def test_slow_response_trips_the_client_timeout_then_recovers(
    start_emulator: StartEmulator, client_for: ClientFor
) -> None:
    cmd = client_for(start_emulator(rows=[]))  # its own server: the delayed call finishes after the test
    queue(cmd, {"kind": "delay", "seconds": 5, "on": "run"})
    with pytest.raises(requests.exceptions.ReadTimeout):
        cmd.run(timeout=0.3)
    started = time.monotonic()
    body = cmd.run(timeout=5).json()  # the next call is not delayed
    assert time.monotonic() - started < 4
    assert body["Status"] in ("SUCCESS", "REPORT RUNNING")  # the late first call may win the race
    assert cmd.admin("GET", "/calls").json()["injected_delay"] == 1


def test_slow_response_within_the_client_timeout(cmd: CmdClient) -> None:
    queue(cmd, {"kind": "delay", "seconds": 0.3, "on": "*"})
    started = time.monotonic()
    assert cmd.run(timeout=10).json()["Status"] == "SUCCESS"
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("status", ["ERROR", "REPORT RUNNING"])
def test_start_status_fault(cmd: CmdClient, status: str) -> None:
    queue(cmd, {"kind": "start_status", "status": status})
    body = cmd.run().json()
    assert (body["Status"], body["Identifier"]) == (status, "")
    assert cmd.run().json()["Status"] == "SUCCESS"  # consumed; nothing was left running


def test_results_timed_out_is_final_and_frees_the_customer(cmd: CmdClient) -> None:
    request_id = cmd.start_report()
    assert cmd.results(request_id).json()["Status"] == "REPORT RUNNING"
    queue(cmd, {"kind": "results_status", "status": "REPORT TIMED OUT"})
    assert cmd.results(request_id).json()["Status"] == "REPORT TIMED OUT"
    assert cmd.results(request_id).json()["Status"] == "REPORT TIMED OUT"
    assert cmd.run().json()["Status"] == "SUCCESS"


def test_results_error_is_final(cmd: CmdClient) -> None:
    queue(cmd, {"kind": "results_status", "status": "ERROR"})
    request_id = cmd.start_report()
    first = cmd.results(request_id).json()
    assert first["Status"] == "ERROR"
    assert "Data" not in first
    assert cmd.results(request_id).json()["Status"] == "ERROR"
    assert cmd.run().json()["Status"] == "SUCCESS"


def test_corrupt_zip_once_then_a_good_one(cmd: CmdClient) -> None:
    queue(cmd, {"kind": "corrupt_zip"})
    request_id = cmd.start_report()
    _, body = cmd.poll(request_id)
    assert body["Status"] == "SUCCESS"
    data = base64.b64decode(body["Data"], validate=True)  # valid Base64 ...
    with pytest.raises(zipfile.BadZipFile):  # ... of bytes that are not a ZIP
        zipfile.ZipFile(io.BytesIO(data))
    again = base64.b64decode(cmd.results(request_id).json()["Data"], validate=True)
    assert zipfile.ZipFile(io.BytesIO(again)).namelist() == ["report.json"]


def test_malformed_members(cmd: CmdClient) -> None:
    cmd.admin("POST", "/config", json={"members": ["json", "csv"]}).raise_for_status()
    queue(cmd, {"kind": "malformed_member"})
    request_id = cmd.start_report()
    _, body = cmd.poll(request_id)
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(body["Data"], validate=True)))
    assert sorted(archive.namelist()) == ["report.csv", "report.json"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(archive.read("report.json"))
    with pytest.raises(UnicodeDecodeError):
        archive.read("report.csv").decode("utf-8")


def test_faults_fire_in_order_and_can_be_cleared(cmd: CmdClient) -> None:
    queue(cmd, {"kind": "http_status", "status": 500}, {"kind": "http_status", "status": 503, "count": 3})
    assert cmd.run().status_code == 500
    assert cmd.run().status_code == 503
    assert cmd.admin("GET", "/faults").json()["faults"] == [
        {"kind": "http_status", "status": 503, "count": 2, "on": "*"}
    ]
    assert cmd.admin("DELETE", "/faults").status_code == 200
    assert cmd.run().status_code == 200


def test_unauthorized_calls_do_not_consume_faults(cmd: CmdClient) -> None:
    queue(cmd, {"kind": "http_status", "status": 500})
    assert cmd.run(auth=None).status_code == 401
    assert cmd.run().status_code == 500


@pytest.mark.parametrize(
    "fault",
    [
        {},
        {"kind": "explode"},
        {"explode": True},
        {"kind": "http_status"},
        {"kind": "http_status", "status": 404},
        {"kind": "http_status", "status": "500"},
        {"kind": "http_status", "status": 500, "count": 0},
        {"kind": "http_status", "status": 500, "count": True},
        {"kind": "http_status", "status": 500, "on": "admin"},
        {"kind": "http_status", "status": 500, "seconds": 1},
        {"kind": "delay", "seconds": -1},
        {"kind": "delay", "seconds": 0},
        {"kind": "delay", "seconds": 601},
        {"kind": "start_status", "status": "SUCCESS"},
        {"kind": "results_status", "status": "REPORT RUNNING"},
        {"kind": "corrupt_zip", "value": False},
        {"kind": "malformed_member", "on": "run"},
        [{"kind": "corrupt_zip"}, {"kind": "nope"}],  # all or nothing
        "not an object",
    ],
)
def test_bad_fault_specs_are_400(cmd: CmdClient, fault: Any) -> None:
    response = cmd.admin("POST", "/faults", json=fault)
    assert response.status_code == 400
    assert response.json()["error"]
    assert cmd.admin("GET", "/faults").json()["faults"] == []
