"""HTTP-level contract: credentials, customer, Accept negotiation, XML and JSON shapes, routing."""

from __future__ import annotations

import base64
import io
import json
import xml.etree.ElementTree as ET
import zipfile

import pytest
import requests

from .conftest import NS, CmdClient

pytestmark = pytest.mark.contract


def test_missing_credentials_are_401_with_a_basic_challenge(cmd: CmdClient) -> None:
    response = cmd.run(auth=None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")


@pytest.mark.parametrize("which", ["password", "username"])
def test_wrong_credentials_are_401(cmd: CmdClient, which: str) -> None:
    username, password = cmd.creds.username, cmd.creds.password
    auth = (username, password + "x") if which == "password" else ("someone-else", password)
    run = cmd.run(auth=auth)
    results = cmd.results("1", auth=auth)
    assert (run.status_code, results.status_code) == (401, 401)
    assert "WWW-Authenticate" in run.headers
    assert cmd.admin("GET", "/calls").json()["unauthorized"] == 2


def test_another_customer_number_is_403(cmd: CmdClient) -> None:
    other = "12345678" if cmd.creds.customer != "12345678" else "87654321"
    response = cmd.run(customer=other)
    assert response.status_code == 403
    assert cmd.admin("GET", "/calls").json()["forbidden"] == 1


@pytest.mark.parametrize("accept", ["text/html", "text/csv", "application/pdf"])
def test_unsupported_accept_is_415(cmd: CmdClient, accept: str) -> None:
    assert cmd.run(accept=accept).status_code == 415
    assert cmd.results("1", accept=accept).status_code == 415


def test_json_when_asked_for_json(cmd: CmdClient) -> None:
    response = cmd.run(accept="application/json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["Status", "StatusMessage", "Identifier"]
    assert body["Status"] == "SUCCESS"


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, "application/xml"),
        ("*/*", "application/xml"),
        ("application/xml", "application/xml"),
        ("text/xml", "text/xml"),
    ],
)
def test_xml_by_default_and_when_asked(cmd: CmdClient, accept: str | None, media: str) -> None:
    response = cmd.run(accept=accept)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(media)
    root = ET.fromstring(response.content)  # noqa: S314 - our own emulator's output
    assert root.tag == f"{NS}reportResponse"
    assert root.findtext(f"{NS}Status") == "SUCCESS"
    assert root.findtext(f"{NS}StatusMessage")
    assert (root.findtext(f"{NS}Identifier") or "").isdigit()


def test_xml_results_carry_the_base64_zip(cmd: CmdClient) -> None:
    request_id = cmd.start_report()
    statuses = []
    data = None
    for _ in range(10):
        root = ET.fromstring(cmd.results(request_id, accept="application/xml").content)  # noqa: S314
        statuses.append(root.findtext(f"{NS}Status"))
        if statuses[-1] != "REPORT RUNNING":
            data = root.findtext(f"{NS}Data")
            break
    assert statuses == ["REPORT RUNNING", "REPORT RUNNING", "SUCCESS"]
    assert data is not None
    rows = json.loads(zipfile.ZipFile(io.BytesIO(base64.b64decode(data))).read("report.json"))
    assert rows == cmd.admin("GET", "/rows").json()["rows"]


def test_running_report_in_xml_has_an_empty_identifier(cmd: CmdClient) -> None:
    cmd.start_report()
    root = ET.fromstring(cmd.run(accept="application/xml").content)  # noqa: S314
    assert root.findtext(f"{NS}Status") == "REPORT RUNNING"
    assert root.findtext(f"{NS}Identifier") in (None, "")


def test_wrong_method_is_405(cmd: CmdClient) -> None:
    path = f"/v1/customer/{cmd.creds.customer}/reports/results/1"
    for method in ("GET", "PUT", "DELETE"):
        response = requests.request(method, cmd.url + path, verify=cmd.ca, timeout=10)
        assert response.status_code == 405, method
        assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/customer/{c}/reports",
        "/v1/customer/{c}/reports/1/run",
        "/v2/customer/{c}/reports/results/1",
        "/nothing-here",
    ],
)
def test_unknown_path_is_404(cmd: CmdClient, path: str) -> None:
    assert cmd.post(path.format(c=cmd.creds.customer)).status_code == 404


def test_calls_are_counted_by_kind(cmd: CmdClient) -> None:
    request_id = cmd.start_report()
    cmd.results(request_id)
    cmd.run(auth=None)
    cmd.run(accept="text/html")
    cmd.post("/nowhere")
    calls = cmd.admin("GET", "/calls").json()
    assert calls["run"] == 1
    assert calls["results"] == 1
    assert calls["unauthorized"] == 1
    assert calls["unsupported_media_type"] == 1
    assert calls["not_found"] == 1
    assert calls["statuses"] == {"run": {"SUCCESS": 1}, "results": {"REPORT RUNNING": 1}}
