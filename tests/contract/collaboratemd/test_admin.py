"""The admin interface: rows (replace, patch, generate, mutate), config, reset, persistence, credentials."""

from __future__ import annotations

import json
import stat
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from local.collaboratemd_emulator.generator import GeneratorSettings, generate_report
from local.collaboratemd_emulator.server import ROWS_FILE, CmdCredentials

from .conftest import ClientFor, CmdClient, StartEmulator

pytestmark = pytest.mark.contract


def rows_of(cmd: CmdClient) -> list[dict[str, str]]:
    body = cmd.admin("GET", "/rows").json()
    assert body["count"] == len(body["rows"])
    return list(body["rows"])


def served_rows(cmd: CmdClient) -> list[dict[str, str]]:
    return list(json.loads(cmd.fetch_rows_zip().read("report.json")))


def test_replace_rows_with_a_json_list(cmd: CmdClient) -> None:
    rows = [{"ClaimID": "1", "ClaimTotalAmount": 10.5, "PaymentReceived": None}]
    response = cmd.admin("PUT", "/rows", json=rows)
    assert response.json() == {"count": 1}
    assert rows_of(cmd) == [{"ClaimID": "1", "ClaimTotalAmount": "10.5", "PaymentReceived": ""}]
    assert served_rows(cmd) == rows_of(cmd)


def test_replace_rows_with_a_json_object_and_with_csv(cmd: CmdClient) -> None:
    assert cmd.admin("PUT", "/rows", json={"data": [{"ClaimID": "7"}]}).json() == {"count": 1}
    csv_body = '\ufeffClaimID,ClaimBalance\r\n1,"$1,000.00"\r\n2,0\r\n'.encode()
    response = cmd.admin("PUT", "/rows", data=csv_body, headers={"Content-Type": "text/csv"})
    assert response.json() == {"count": 2}
    assert rows_of(cmd) == [
        {"ClaimID": "1", "ClaimBalance": "$1,000.00"},
        {"ClaimID": "2", "ClaimBalance": "0"},
    ]


def test_get_rows_with_a_limit(cmd: CmdClient) -> None:
    body = cmd.admin("GET", "/rows", params={"limit": 3}).json()
    assert body["count"] == 120
    assert len(body["rows"]) == 3


def test_patch_rows(cmd: CmdClient) -> None:
    before = [row for row in rows_of(cmd) if row["ClaimID"]]
    counts = Counter(row["ClaimID"] for row in before)
    before = [row for row in before if counts[row["ClaimID"]] == 1]
    cmd.admin("PUT", "/rows", json=before).raise_for_status()
    first, second = before[0]["ClaimID"], before[1]["ClaimID"]
    new_row = {"ClaimID": "99999999", "ClaimTotalAmount": "5"}
    response = cmd.admin(
        "PATCH",
        "/rows",
        json={
            "updates": [{"ClaimID": first, "set": {"ClaimBalance": "0", "PaymentCheck": "EFT1"}}],
            "delete": [second],
            "append": [new_row],
        },
    )
    assert response.json() == {"updated": 1, "deleted": 1, "appended": 1, "count": len(before)}
    after = rows_of(cmd)
    assert after[0] == {**before[0], "ClaimBalance": "0", "PaymentCheck": "EFT1"}
    assert second not in {row["ClaimID"] for row in after}
    assert after[-1] == new_row
    assert after[1:-1] == before[2:]


@pytest.mark.parametrize(
    "body",
    [
        {"updates": [{"ClaimID": "no-such-claim", "set": {"ClaimBalance": "0"}}]},
        {"delete": ["no-such-claim"]},
        {"updates": [{"ClaimID": "1"}]},
        {"updates": "x"},
        {"append": [["not", "an", "object"]]},
        {"append": [{"ClaimID": {"nested": True}}]},
        {"remove": []},
        [],
    ],
)
def test_bad_patches_are_400_and_change_nothing(cmd: CmdClient, body: Any) -> None:
    before = rows_of(cmd)
    response = cmd.admin("PATCH", "/rows", json=body)
    assert response.status_code == 400
    assert response.json()["error"]
    assert rows_of(cmd) == before


def test_mutate_changes_a_share_of_valid_claims(cmd: CmdClient) -> None:
    before = rows_of(cmd)
    response = cmd.admin("POST", "/mutate", json={"share": 0.05, "seed": 3}).json()
    assert response["changed"] == len(response["claim_ids"]) > 0
    after = rows_of(cmd)
    assert len(after) == len(before)
    changed = [new["ClaimID"] for old, new in zip(before, after, strict=True) if new != old]
    assert changed == response["claim_ids"]
    assert served_rows(cmd) == after


def test_generate_replaces_rows(cmd: CmdClient) -> None:
    body: dict[str, Any] = {
        "claims": 300,
        "seed": 9,
        "malformed_share": 0.1,
        "duplicate_share": 0.02,
        "unmapped_share": 0,
    }
    response = cmd.admin("POST", "/generate", json=body).json()
    assert response == {"count": 300, "malformed": 30, "duplicates": 6, "unmapped": 0}
    assert rows_of(cmd) == generate_report(GeneratorSettings(**body)).rows


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/generate", {"claims": -1}),
        ("/generate", {"claims": 10, "malformed_share": 2}),
        ("/generate", {"claims": 10, "colour": "red"}),
        ("/generate", {"claims": 10_000_000}),
        ("/mutate", {"share": 1.5}),
        ("/mutate", {"seed": "x"}),
        ("/config", {"running_polls": -1}),
        ("/config", {"running_polls": True}),
        ("/config", {"members": []}),
        ("/config", {"members": ["xml"]}),
        ("/config", {"json_shape": "dict"}),
        ("/config", {"casing": "UPPER"}),
        ("/config", {"max_running_s": "soon"}),
        ("/config", {"unknown": 1}),
        ("/config", ["running_polls"]),
    ],
)
def test_bad_admin_input_is_400_json(cmd: CmdClient, path: str, body: Any) -> None:
    response = cmd.admin("POST", path, json=body)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/config"), ("POST", "/faults"), ("PUT", "/rows"), ("PATCH", "/rows"), ("POST", "/generate")],
)
def test_invalid_json_bodies_are_400(cmd: CmdClient, method: str, path: str) -> None:
    for data in (b"{", b"", b"\xff\xfe"):
        response = cmd.admin(method, path, data=data, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (path, data)
        assert response.json()["error"]


def test_bad_csv_rows_are_400(cmd: CmdClient) -> None:
    response = cmd.admin(
        "PUT", "/rows", data=b"ClaimID,Amount\r\n1,2,3\r\n", headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 400
    assert "line 2" in response.json()["error"]


def test_config_round_trip(cmd: CmdClient) -> None:
    default = cmd.admin("GET", "/config").json()
    assert default == {
        "running_polls": 2,
        "members": ["json"],
        "json_shape": "list",
        "casing": "Pascal",
        "max_running_s": 900.0,
    }
    changed = cmd.admin("POST", "/config", json={"members": ["csv", "json"], "max_running_s": 60}).json()
    assert changed == {**default, "members": ["csv", "json"], "max_running_s": 60.0}
    assert cmd.admin("GET", "/config").json() == changed


def test_reset_clears_calls_faults_and_reports(cmd: CmdClient) -> None:
    request_id = cmd.start_report()
    assert cmd.run().json()["Status"] == "REPORT RUNNING"
    cmd.admin(
        "POST", "/faults", json={"kind": "http_status", "status": 500, "on": "results"}
    ).raise_for_status()
    assert cmd.admin("POST", "/reset").status_code == 200
    calls = cmd.admin("GET", "/calls").json()
    assert calls["run"] == calls["results"] == 0
    assert cmd.admin("GET", "/faults").json()["faults"] == []
    assert cmd.admin("GET").json()["running"] == []
    assert cmd.results(request_id).json()["Status"] == "NOT FOUND"
    assert cmd.run().json()["Status"] == "SUCCESS"
    assert len(rows_of(cmd)) == 120  # rows stay


def test_unknown_admin_path_is_a_json_404(cmd: CmdClient) -> None:
    response = cmd.admin("GET", "/nothing")
    assert response.status_code == 404
    assert response.json()["error"]


def test_rows_survive_a_restart(
    start_emulator: StartEmulator, client_for: ClientFor, sample_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    first = start_emulator(rows=sample_rows)
    client = client_for(first)
    client.admin("POST", "/mutate", json={"share": 0.1, "seed": 1}).raise_for_status()
    client.admin("PATCH", "/rows", json={"delete": [sample_rows[0]["ClaimID"]]}).raise_for_status()
    expected = rows_of(client)
    first.stop()

    rows_file = tmp_path / "state" / ROWS_FILE
    assert json.loads(rows_file.read_text()) == expected
    assert stat.S_IMODE(rows_file.stat().st_mode) == 0o600

    second = client_for(start_emulator())  # no rows given: the persisted ones
    assert rows_of(second) == expected
    assert served_rows(second) == expected


def test_set_rows_from_python_persists(
    start_emulator: StartEmulator, client_for: ClientFor, tmp_path: Path
) -> None:
    emulator = start_emulator()
    assert rows_of(client_for(emulator)) == []  # nothing persisted yet: empty
    assert emulator.set_rows([{"ClaimID": "1", "ClaimTotalAmount": 2}]) == 1  # type: ignore[dict-item]
    assert json.loads((tmp_path / "state" / ROWS_FILE).read_text()) == [
        {"ClaimID": "1", "ClaimTotalAmount": "2"}
    ]
    assert served_rows(client_for(emulator)) == [{"ClaimID": "1", "ClaimTotalAmount": "2"}]


def test_emulator_urls(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(rows=[])
    assert emulator.url.startswith("https://127.0.0.1:")
    assert emulator.admin_url == emulator.url + "/__admin"


def test_credentials_generate_save_load(tmp_path: Path) -> None:
    creds = CmdCredentials.generate()
    assert len(creds.customer) == 8 and creds.customer.isdigit()
    assert creds.report_id.isdigit() and creds.filter_id.isdigit()
    assert creds.report_id != creds.filter_id
    assert creds.password not in repr(creds)
    path = tmp_path / "nested" / "cmd.json"
    creds.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert CmdCredentials.load(path) == creds


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"username": "u"}', '{"username": "u", "password": "p", "customer": "123",'
     ' "report_id": "1", "filter_id": "2"}'],
)  # fmt: skip
def test_credentials_load_rejects_bad_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "cmd.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"cmd\.json"):
        CmdCredentials.load(path)
