"""The ``claimsync`` command line as a newcomer uses it: real subprocesses against one real local world.

The tests share the module's world and run in file order; each leaves no run going and no fault set.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import socket
import stat
import subprocess
from pathlib import Path

import pytest
import requests

from local.collaboratemd_emulator.generator import GeneratorSettings, generate_rows
from tests.cli.conftest import CLAIMSYNC, Lines, WorldProcess, assert_one_error_line, run

pytestmark = pytest.mark.cli

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
PHASE_LINE = re.compile(r"^\s*\d+\.\d s  (prepare|report|payors|transform|upload|finish)\s+done in ")
RUN_ID = re.compile(r"^run (\S+): started \(")


def local(world: WorldProcess, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return run(*args, "--local", state_dir=world.state_dir, timeout=timeout)


def started_run_id(stdout: str) -> str:
    match = RUN_ID.match(stdout.splitlines()[0])
    assert match, stdout[:500]
    return match.group(1)


# ---- local up ----------------------------------------------------------------------------------------
def test_local_up_prints_one_json_line_and_a_human_ready_line(world: WorldProcess) -> None:
    endpoints = world.endpoints
    for system, keys in REQUIRED.items():
        assert keys <= set(endpoints[system]), system
    assert Path(endpoints["salesforce"]["ca_cert"]).exists()
    assert json.loads((world.state_dir / "endpoints.json").read_text()) == endpoints
    ready = world.stderr.wait_for("ready", timeout=30)
    assert ready == f"local world ready on {world.state_dir} — Ctrl-C to stop"
    print(f"local up ready in {world.ready_s:.1f} s")


def test_files_holding_generated_credentials_are_owner_only(world: WorldProcess) -> None:
    sd = world.state_dir
    private = [
        sd / "endpoints.json",
        sd / "salesforce-credentials.json",
        sd / "collaboratemd-credentials.json",
        sd / "tls" / "server.key",
        sd / "salesforce" / "jwt_private_key.pem",
        sd / "local-up.lock",
    ]
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(sd.stat().st_mode) & 0o077 == 0, "the state directory is owner-only too"


def test_a_second_local_up_on_the_same_state_dir_is_refused_and_the_first_keeps_working(
    world: WorldProcess,
) -> None:
    second = run("local", "up", state_dir=world.state_dir, timeout=120)
    line = assert_one_error_line(second, 7)
    assert "already running on" in line and str(world.proc.pid) in line
    assert json.loads((world.state_dir / "endpoints.json").read_text()) == world.endpoints
    still = local(world, "runs")
    assert still.returncode == 0, still.stderr


# ---- sync, follow, runs, failures -------------------------------------------------------------------
def test_local_sync_json_summary_then_incremental_after_set_report(
    world: WorldProcess, tmp_path: Path
) -> None:
    first = run("local", "sync", "--json", state_dir=world.state_dir)
    assert first.returncode == 0, first.stderr[-2000:]
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert len(first.stdout.strip().splitlines()) == 1, "with --json, stdout is the JSON line only"
    assert set(summary) >= SUMMARY_KEYS
    assert summary["rows_in"] == 300 and summary["status"] in ("SUCCEEDED", "PARTIAL")
    assert summary["rows_in"] == summary["sent"] + summary["unchanged"] + summary["rejected"]
    assert "transform  done in" in first.stderr, "live progress goes to stderr with --json"

    partial = tmp_path / "partial.csv"
    partial.write_text("ClaimID,ClaimTotalAmount\nX-1,$10.00\n")
    assert (
        run("local", "set-report", "--report-file", str(partial), state_dir=world.state_dir).returncode == 0
    )
    lacking = run("local", "sync", "--json", state_dir=world.state_dir)
    summary = json.loads(lacking.stdout.strip().splitlines()[-1])
    # a report without mapped columns: its rows are rejected naming them, nothing is cleared
    assert lacking.returncode == 0 and summary["status"] == "PARTIAL" and summary["rejected"] == 1
    assert summary["reject_reasons"] == {"MISSING_COLUMN": 1} and summary["sent"] == 0

    row = generate_rows(GeneratorSettings(claims=1, seed=9, malformed_share=0, duplicate_share=0))[0]
    report = tmp_path / "report.csv"
    with report.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    set_report = run("local", "set-report", "--report-file", str(report), state_dir=world.state_dir)
    assert set_report.returncode == 0 and "1 rows" in set_report.stdout
    second = run("local", "sync", "--json", state_dir=world.state_dir)
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    assert summary["rows_in"] == 1 and summary["sent"] == 1 and summary["succeeded"] == 1
    world.admin("collaboratemd", "POST", "/generate", {"claims": 300, "seed": 3})


def test_a_run_that_fails_says_why_in_one_line_and_exits_1(world: WorldProcess) -> None:
    world.admin("collaboratemd", "POST", "/faults", {"kind": "results_status", "status": "ERROR", "count": 1})
    failed = local(world, "sync", "--follow")
    line = assert_one_error_line(failed, 1)
    assert re.match(r"^error: run \S+ failed: the CollaborateMD report failed \(results: ERROR\)$", line)
    assert re.search(r"report\s+FAILED in \d+\.\d s — the CollaborateMD report failed", failed.stdout)
    assert re.search(r"^run \S+: FAILED$", failed.stdout, re.M)


def test_sync_follow_tells_the_run_id_first_then_each_phase_and_an_aligned_summary(
    world: WorldProcess,
) -> None:
    result = local(world, "sync", "--full", "--follow")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    run_id = started_run_id(result.stdout)
    assert run_id.startswith("full-")
    phases = [PHASE_LINE.match(line).group(1) for line in lines if PHASE_LINE.match(line)]  # type: ignore[union-attr]
    assert sorted(phases) == sorted(["prepare", "report", "payors", "transform", "upload", "finish"])
    assert phases[-3:] == ["transform", "upload", "finish"]
    assert any(line.rstrip().endswith("pages") and "[" in line for line in lines), "a page bar"
    assert f"run {run_id}: " in result.stdout and "(full sync)" in result.stdout
    assert re.search(r"^  rows in the report\s+300$", result.stdout, re.M)
    assert re.search(r"^  rejected because\s+rows$", result.stdout, re.M)
    assert "{" not in result.stdout, "no Python dicts in what an operator reads"
    assert result.stderr == ""


def test_a_dry_run_says_would_send_and_never_shows_the_sent_equation(world: WorldProcess) -> None:
    result = local(world, "sync", "--dry-run", "--follow")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "would send" in result.stdout and "nothing was written to Salesforce" in result.stdout
    assert "succeeded" not in result.stdout
    assert not re.search(r"sent \d+ = succeeded", result.stdout)


def test_retries_and_waits_are_shown_as_they_happen(world: WorldProcess) -> None:
    world.admin(
        "collaboratemd", "POST", "/faults", {"kind": "http_status", "status": 503, "count": 2, "on": "run"}
    )
    world.admin("collaboratemd", "POST", "/generate", {"claims": 300, "seed": 4})  # changed claims to send
    world.admin(
        "salesforce", "POST", "/faults", {"kind": "unavailable", "on": "composite_upsert", "count": 1}
    )
    result = local(world, "sync", "--follow")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "report     CollaborateMD unavailable (run: HTTP 503) — retry 1 of 5" in out
    assert "report     CollaborateMD unavailable (run: HTTP 503) — retry 2 of 5" in out
    assert "report     CollaborateMD report requested — first check in 20 s" in out
    assert "upload     Salesforce 503 on the Collections upsert — retry 1 of 5" in out


def test_sync_without_follow_returns_at_once_and_the_run_can_be_followed_later(world: WorldProcess) -> None:
    started = local(world, "sync")
    assert started.returncode == 0, started.stderr
    run_id = started_run_id(started.stdout)
    hint = started.stdout.splitlines()[1]
    assert hint == f"follow it with: claimsync sync --local --state-dir {world.state_dir} --follow {run_id}"
    followed = local(world, "sync", "--follow", run_id)
    assert followed.returncode == 0, followed.stderr
    assert (
        followed.stdout.splitlines()[0] == f"run {run_id}: following in the local world ({world.state_dir})"
    )
    assert f"run {run_id}: " in followed.stdout.split("\n", 1)[1]


def test_runs_shows_start_finish_duration_status_and_counts(world: WorldProcess) -> None:
    table = local(world, "runs")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["RUN", "ID", "STATUS", "STARTED", "(UTC)", "FINISHED", "(UTC)", "DURATION",
                              "ROWS", "IN", "SENT", "UNCHANGED", "REJECTED", "SUCCEEDED", "FAILED", "NOTE"]  # fmt: skip
    statuses = {row.split()[1] for row in rows}
    assert {"PARTIAL", "FAILED", "DRY_RUN"} <= statuses | {"SUCCEEDED"}
    as_json = [
        json.loads(line) for line in local(world, "runs", "--json", "--limit", "3").stdout.splitlines()
    ]
    assert len(as_json) == 3
    for record in as_json:
        assert record["started_at"] and record["finished_at"] and record["duration_s"] > 0
    finished = [r for r in as_json if r["status"] in ("SUCCEEDED", "PARTIAL")]
    assert finished and "rows_in" in finished[0]["summary"]


def test_failures_prints_the_rejects_of_a_run(world: WorldProcess) -> None:
    runs = [json.loads(line) for line in local(world, "runs", "--json").stdout.splitlines()]
    partial = next(r for r in runs if r["status"] == "PARTIAL" and r["summary"]["rejected"] > 0)
    result = local(world, "failures", partial["run_id"])
    assert result.returncode == 0, result.stderr
    assert "== rejects.csv ==\nrow_number,claim_id,reasons" in result.stdout
    assert result.stdout.count("\n") > partial["summary"]["rejected"]
    unknown = local(world, "failures", "no-such-run")
    assert "no reports" in assert_one_error_line(unknown, 5)


def test_the_client_deadline_ends_in_one_line_and_the_run_can_be_followed_again(world: WorldProcess) -> None:
    world.admin("collaboratemd", "POST", "/faults", {"kind": "delay", "seconds": 4, "count": 1, "on": "run"})
    gave_up = run("local", "sync", "--timeout", "1", state_dir=world.state_dir)
    line = assert_one_error_line(gave_up, 8)
    run_id = started_run_id(gave_up.stdout)
    assert f"stopped waiting after 1 s; run {run_id} goes on in the local world" in line
    command = line.split("follow it again with: ")[1]
    assert command == f"claimsync sync --local --state-dir {world.state_dir} --follow {run_id}"
    again = run(*command.split()[1:], timeout=240)
    assert again.returncode == 0, again.stderr
    assert f"run {run_id}: " in again.stdout


def test_ctrl_c_while_following_says_the_run_goes_on_and_how_to_follow_it(world: WorldProcess) -> None:
    world.admin("collaboratemd", "POST", "/faults", {"kind": "delay", "seconds": 4, "count": 1, "on": "run"})
    proc = subprocess.Popen(
        [*CLAIMSYNC, "sync", "--local", "--state-dir", str(world.state_dir), "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out = Lines(proc.stdout)
    first = out.next(timeout=60)
    assert first is not None and RUN_ID.match(first)
    run_id = started_run_id(first)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    stderr = proc.stderr.read()  # type: ignore[union-attr]
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: interrupted; run {run_id} goes on in the local world"
    )
    assert lines[0].endswith(
        f"follow it again with: claimsync sync --local --state-dir {world.state_dir} --follow {run_id}"
    )
    finish = local(world, "sync", "--follow", run_id)
    assert finish.returncode == 0, finish.stderr


# ---- local api ---------------------------------------------------------------------------------------
def test_local_api_serves_the_crm_api_against_the_local_salesforce(world: WorldProcess) -> None:
    proc = subprocess.Popen(
        [*CLAIMSYNC, "local", "api", "--port", "0", "--state-dir", str(world.state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = json.loads(Lines(proc.stdout).next(timeout=60) or "{}")["crm_api"]["url"]
        assert Lines(proc.stderr).wait_for("ready", timeout=30) == f"CRM API ready on {url} — Ctrl-C to stop"
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


def test_local_api_on_a_busy_port_says_so_in_one_line(world: WorldProcess) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("local", "api", "--port", str(port), state_dir=world.state_dir, timeout=60)
    assert f"port {port} is in use" in assert_one_error_line(result, 7)


# ---- last: stopping ------------------------------------------------------------------------------------
def test_sigint_stops_the_world_within_seconds_and_removes_the_endpoints_file(world: WorldProcess) -> None:
    world.proc.send_signal(signal.SIGINT)
    assert world.proc.wait(timeout=30) == 0
    assert not (world.state_dir / "endpoints.json").exists()
    assert world.stderr.wait_for("stopped", timeout=10) == "local world stopped"
    after = run("local", "sync", state_dir=world.state_dir)
    assert "no local world is running" in assert_one_error_line(after, 5)
