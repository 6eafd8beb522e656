"""Report lifecycle: run statuses, one running report per customer, polls, ZIP members, casing."""

from __future__ import annotations

import base64
import csv
import io
import json
import xml.etree.ElementTree as ET
import zipfile

import pytest

from .conftest import NS, ClientFor, CmdClient, StartEmulator

pytestmark = pytest.mark.contract


def test_run_success_returns_an_identifier(cmd: CmdClient) -> None:
    body = cmd.run().json()
    assert body["Status"] == "SUCCESS"
    assert body["StatusMessage"]
    assert str(body["Identifier"]).isdigit()


def test_unknown_report_is_not_found(cmd: CmdClient) -> None:
    body = cmd.run(report=cmd.creds.filter_id).json()  # the filter id is not a report id
    assert body["Status"] == "NOT FOUND"
    assert body["Identifier"] == ""


def test_unknown_filter_is_invalid_criteria(cmd: CmdClient) -> None:
    body = cmd.run(filter_id=cmd.creds.report_id).json()  # the report id is not a filter id
    assert body["Status"] == "INVALID CRITERIA"
    assert body["Identifier"] == ""


def test_one_running_report_per_customer(cmd: CmdClient) -> None:
    first = cmd.start_report()
    blocked = cmd.run().json()
    assert blocked["Status"] == "REPORT RUNNING"
    assert blocked["Identifier"] == ""
    assert cmd.results(first).json()["Status"] == "REPORT RUNNING"  # a poll does not free the slot
    assert cmd.run().json()["Status"] == "REPORT RUNNING"
    _, final = cmd.poll(first)
    assert final["Status"] == "SUCCESS"
    second = cmd.start_report()
    assert second != first


def test_unknown_request_id_is_not_found(cmd: CmdClient) -> None:
    body = cmd.results("999").json()
    assert body["Status"] == "NOT FOUND"
    assert "Data" not in body


@pytest.mark.parametrize("running_polls", [0, 1, 4])
def test_report_running_for_configured_polls_then_success(
    start_emulator: StartEmulator, client_for: ClientFor, running_polls: int
) -> None:
    client = client_for(start_emulator(rows=[], running_polls=running_polls))
    polls, body = client.poll(client.start_report())
    assert polls == running_polls
    assert body["Status"] == "SUCCESS"
    assert list(body) == ["Status", "StatusMessage", "Data"]


def test_running_polls_via_admin_config(cmd: CmdClient) -> None:
    assert cmd.admin("POST", "/config", json={"running_polls": 3}).json()["running_polls"] == 3
    polls, body = cmd.poll(cmd.start_report())
    assert (polls, body["Status"]) == (3, "SUCCESS")


def test_success_is_final_and_repeatable(cmd: CmdClient) -> None:
    request_id = cmd.start_report()
    _, first = cmd.poll(request_id)
    again = cmd.results(request_id).json()
    assert again == first


def test_zip_with_both_members_holds_the_same_rows(cmd: CmdClient) -> None:
    cmd.admin("POST", "/config", json={"members": ["json", "csv"]}).raise_for_status()
    archive = cmd.fetch_rows_zip()
    assert sorted(archive.namelist()) == ["report.csv", "report.json"]
    json_rows = json.loads(archive.read("report.json"))
    csv_rows = list(csv.DictReader(io.StringIO(archive.read("report.csv").decode("utf-8"), newline="")))
    served = cmd.admin("GET", "/rows").json()["rows"]
    assert json_rows == csv_rows == served
    assert len(served) == 120
    assert all(isinstance(value, str) for row in json_rows for value in row.values())


def test_csv_only_member(cmd: CmdClient) -> None:
    cmd.admin("POST", "/config", json={"members": ["csv"]}).raise_for_status()
    archive = cmd.fetch_rows_zip()
    assert archive.namelist() == ["report.csv"]
    text = archive.read("report.csv").decode("utf-8")
    assert text.startswith("ClaimID,PateintNameID,")
    assert len(list(csv.DictReader(io.StringIO(text, newline="")))) == 120


def test_json_object_shape(cmd: CmdClient) -> None:
    cmd.admin("POST", "/config", json={"json_shape": "object"}).raise_for_status()
    value = json.loads(cmd.fetch_rows_zip().read("report.json"))
    assert list(value) == ["data"]
    assert value["data"] == cmd.admin("GET", "/rows").json()["rows"]


def test_empty_report(cmd: CmdClient) -> None:
    cmd.admin("PUT", "/rows", json=[]).raise_for_status()
    cmd.admin("POST", "/config", json={"members": ["json", "csv"]}).raise_for_status()
    archive = cmd.fetch_rows_zip()
    assert json.loads(archive.read("report.json")) == []
    assert archive.read("report.csv").decode().splitlines()[0].startswith("ClaimID,")


def test_lower_casing_json_and_xml(cmd: CmdClient) -> None:
    cmd.admin("POST", "/config", json={"casing": "lower", "running_polls": 0}).raise_for_status()
    run = cmd.run().json()
    assert set(run) == {"status", "statusMessage", "identifier"}
    assert run["status"] == "SUCCESS"
    results = cmd.results(run["identifier"]).json()
    assert set(results) == {"status", "statusMessage", "data"}
    root = ET.fromstring(cmd.results(run["identifier"], accept="application/xml").content)  # noqa: S314
    assert root.findtext(f"{NS}status") == "SUCCESS"
    assert root.findtext(f"{NS}data")
    assert root.find(f"{NS}Status") is None


def test_rows_are_snapshotted_when_the_report_starts(cmd: CmdClient) -> None:
    before = cmd.admin("GET", "/rows").json()["rows"]
    request_id = cmd.start_report()
    cmd.admin("PUT", "/rows", json=before[:5]).raise_for_status()
    _, body = cmd.poll(request_id)
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(body["Data"])))
    assert json.loads(archive.read("report.json")) == before
    assert len(json.loads(cmd.fetch_rows_zip().read("report.json"))) == 5


def test_max_running_time_times_out_and_frees_the_customer(cmd: CmdClient) -> None:
    cmd.admin("POST", "/config", json={"max_running_s": 0}).raise_for_status()
    request_id = cmd.start_report()
    body = cmd.results(request_id).json()
    assert body["Status"] == "REPORT TIMED OUT"
    assert "Data" not in body
    assert cmd.results(request_id).json()["Status"] == "REPORT TIMED OUT"  # final
    cmd.admin("POST", "/config", json={"max_running_s": 900}).raise_for_status()
    assert cmd.run().json()["Status"] == "SUCCESS"


def test_an_expired_report_does_not_block_a_new_start(cmd: CmdClient) -> None:
    cmd.admin("POST", "/config", json={"max_running_s": 0}).raise_for_status()
    first = cmd.start_report()  # never polled
    cmd.admin("POST", "/config", json={"max_running_s": 900}).raise_for_status()
    second = cmd.start_report()
    assert second != first
    assert cmd.results(first).json()["Status"] == "REPORT TIMED OUT"


def test_the_report_file_is_built_when_the_rows_change_and_shared_by_the_reports_on_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """How long a report runs is its configured polls: its ZIP is built when the rows change (the admin
    call returns once it is), not by each report, however slowly the emulator encodes."""
    from local.collaboratemd_emulator import engine as engine_module
    from local.collaboratemd_emulator.generator import GeneratorSettings, generate_rows

    builds: list[int] = []
    real_build = engine_module.build_zip

    def counted(rows, config, **kw):  # type: ignore[no-untyped-def]
        builds.append(len(rows))
        return real_build(rows, config, **kw)

    monkeypatch.setattr(engine_module, "build_zip", counted)
    engine = engine_module.ReportEngine(
        customer="c",
        report_id="r",
        filter_id="f",
        rows=[],
        config=engine_module.EmulatorConfig(running_polls=0),
    )

    def report() -> bytes:
        identifier = engine.start_report("c", "r", "f").identifier
        reply = engine.fetch_results("c", str(identifier))
        assert reply.status == engine_module.SUCCESS
        return base64.b64decode(str(reply.data))

    engine.replace_rows(generate_rows(GeneratorSettings(claims=50, seed=1)))
    assert builds == [50]  # built by the change itself
    first, second = report(), report()
    assert builds == [50] and first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert len(json.loads(archive.read("report.json"))) == 50
    engine.mutate(0.5, seed=2)
    assert builds == [50, 50] and report() != first
    engine.update_config({"members": ["csv"]})  # another member layout: built by the next report
    with zipfile.ZipFile(io.BytesIO(report())) as archive:
        assert archive.namelist() == ["report.csv"]
    assert builds == [50, 50, 50]
