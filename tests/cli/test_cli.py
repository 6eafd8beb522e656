"""The ``claimsync`` command line as a newcomer uses it: real subprocesses, a real local world."""

from __future__ import annotations

import csv
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from claimsync.mapping import load_mapping
from local.collaboratemd_emulator.generator import GeneratorSettings, generate_rows

pytestmark = pytest.mark.workflow

CLAIMSYNC = [sys.executable, "-m", "local.cli"]
REQUIRED = {
    "salesforce": {
        "instance_url",
        "token_url",
        "username",
        "password",
        "client_id",
        "client_secret",
        "ca_cert",
        "admin_url",
    },
    "collaboratemd": {"url", "username", "password", "customer", "report_id", "filter_id", "admin_url"},
    "aws": {"endpoint_url", "state_machine_arn", "bucket", "table"},
}
SUMMARY_KEYS = {"status", "rows_in", "sent", "unchanged", "rejected", "succeeded", "failed", "unmapped_payers",
                "salesforce_api_calls", "state_transitions", "duration_s", "reports"}  # fmt: skip


def run(*args: str, state_dir: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    extra = ["--state-dir", str(state_dir)] if state_dir else []
    return subprocess.run(
        [*CLAIMSYNC, *args, *extra], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    state_dir = tmp_path_factory.mktemp("cli-world")
    proc = subprocess.Popen(
        [*CLAIMSYNC, "local", "up", "--claims", "300", "--seed", "3", "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    started = time.monotonic()
    try:
        first = lines.get(timeout=120)
        ready_s = time.monotonic() - started
        yield {"proc": proc, "state_dir": state_dir, "endpoints": json.loads(first), "ready_s": ready_s}
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)


def test_local_up_prints_one_json_line_with_every_endpoint(world):
    endpoints = world["endpoints"]
    for system, keys in REQUIRED.items():
        assert keys <= set(endpoints[system]), system
    assert Path(endpoints["salesforce"]["ca_cert"]).exists()
    assert json.loads((world["state_dir"] / "endpoints.json").read_text()) == endpoints
    print(f"local up ready in {world['ready_s']:.1f} s")


def test_local_sync_json_summary_then_incremental_after_set_report(world, tmp_path):
    first = run("local", "sync", "--json", state_dir=world["state_dir"])
    assert first.returncode == 0, first.stderr[-2000:]
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert set(summary) >= SUMMARY_KEYS
    assert summary["rows_in"] == 300 and summary["status"] in ("SUCCEEDED", "PARTIAL")
    assert summary["rows_in"] == summary["sent"] + summary["unchanged"] + summary["rejected"]
    assert "TransformPages" in first.stderr, "live progress goes to stderr with --json"

    partial = tmp_path / "partial.csv"
    partial.write_text("ClaimID,ClaimTotalAmount\nX-1,$10.00\n")
    assert (
        run("local", "set-report", "--report-file", str(partial), state_dir=world["state_dir"]).returncode
        == 0
    )
    lacking = run("local", "sync", "--json", state_dir=world["state_dir"])
    summary = json.loads(lacking.stdout.strip().splitlines()[-1])
    # a report without mapped columns: its rows are rejected naming them, nothing is cleared
    assert summary["status"] == "PARTIAL" and summary["rows_in"] == 1 and summary["rejected"] == 1
    assert summary["reject_reasons"] == {"MISSING_COLUMN": 1} and summary["sent"] == 0

    row = generate_rows(GeneratorSettings(claims=1, seed=9, malformed_share=0, duplicate_share=0))[0]
    report = tmp_path / "report.csv"
    with report.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    set_report = run("local", "set-report", "--report-file", str(report), state_dir=world["state_dir"])
    assert set_report.returncode == 0 and "1 rows" in set_report.stdout
    second = run("local", "sync", "--json", state_dir=world["state_dir"])
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    assert summary["rows_in"] == 1 and summary["sent"] == 1 and summary["succeeded"] == 1


def test_set_report_with_a_bad_file_explains_and_changes_nothing(world, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "rows"}')
    result = run("local", "set-report", "--report-file", str(bad), state_dir=world["state_dir"])
    assert result.returncode == 2 and result.stderr.startswith("error:")


def test_commands_without_a_running_world_say_so(tmp_path):
    result = run("local", "sync", state_dir=tmp_path)
    assert result.returncode == 2 and "no local world is running" in result.stderr


def test_preview_shows_what_would_be_sent_and_rejected(tmp_path):
    report = tmp_path / "r.json"
    blank = dict.fromkeys(load_mapping().source_columns, "")  # every mapped column, as the report has
    rows = [
        blank | {"ClaimID": "A1", "ClaimTotalAmount": "$1,000.00", "StatementCoversFromDate": "2024-01-02"},
        blank | {"ClaimID": "", "ClaimTotalAmount": "5"},
        blank | {"ClaimID": "A2", "ClaimTotalAmount": "12..3"},
    ]
    report.write_text(json.dumps(rows))
    result = run("preview", "--report-file", str(report), "--json")
    assert result.returncode == 0, result.stderr
    preview = json.loads(result.stdout)
    assert preview["would_send"] == 1 and preview["rejected"] == 2
    assert preview["reject_reasons"] == {"INVALID_AMOUNT": 1, "MISSING_CLAIM_ID": 1}
    text = run("preview", "--report-file", str(report)).stdout
    assert "row 3 (claim A2): INVALID_AMOUNT:ClaimTotalAmount" in text


def test_local_api_serves_the_crm_api_against_the_local_salesforce(world):
    proc = subprocess.Popen(
        [*CLAIMSYNC, "local", "api", "--port", "0", "--state-dir", str(world["state_dir"])],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        url = json.loads(lines.get(timeout=60))["crm_api"]["url"]
        import requests

        health = requests.get(f"{url}/health", timeout=30).json()
        assert health["success"] is True and health["data"]["status"] == "healthy"
        created = requests.post(f"{url}/accounts", json={"Name": "Local Clinic"}, timeout=30)
        assert created.status_code == 201 and created.json()["data"]["account_name"] == "Local Clinic"
        # Idempotency-Key answers are kept in the local world's moto DynamoDB.
        keyed = [
            requests.post(
                f"{url}/accounts",
                json={"Name": "Keyed Clinic"},
                headers={"Idempotency-Key": "cli-1"},
                timeout=30,
            )
            for _ in range(2)
        ]
        assert [r.status_code for r in keyed] == [201, 201] and keyed[0].content == keyed[1].content
        assert keyed[1].headers["Idempotent-Replayed"] == "true"
        text = requests.post(
            f"{url}/accounts", data='{"Name": "x"}', headers={"Content-Type": "text/plain"}, timeout=30
        )
        assert text.status_code == 415
        assert requests.get(f"{url}/nowhere", timeout=30).status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_sigterm_stops_the_world_cleanly(world):
    proc = world["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert not (world["state_dir"] / "endpoints.json").exists()
