"""``claimsync claim`` and ``claimsync report`` as an operator runs them: subprocesses against one local world.

The module's world runs three syncs first (``runs``): a full sync, an incremental one after 10 % of
the claims changed in CollaborateMD while Salesforce refused some rows (``UNABLE_TO_LOCK_ROW``), and
a run whose CollaborateMD report failed. What the tests expect is derived from the world's own data
(the rows the emulator serves, the run's rejects.csv and failures.csv read with boto3, the records
read with simple-salesforce), never from the code under test. The tests run in file order; the last
one expires a run's reports.
"""

from __future__ import annotations

import csv
import io
import json
import re
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce, format_soql

from local.collaboratemd_emulator.generator import mutate_rows
from local.demo import valid_claim_ids
from local.syncrun import aws_client
from tests.cli.conftest import WorldProcess, assert_one_error_line, run
from tests.runpage import Page

pytestmark = pytest.mark.cli


@dataclass(frozen=True)
class Runs:
    full: str
    incremental: str
    failed: str
    rows: list[dict[str, str]]  # the rows of the incremental run's report
    changed: set[str]  # claims changed in CollaborateMD before the incremental run (valid ones)
    rejects: list[dict[str, str]]  # rejects.csv of the incremental run
    failures: list[dict[str, str]]  # failures.csv of the incremental run
    full_rejects: list[dict[str, str]]  # rejects.csv of the full run

    def landed_then_changed(self) -> list[str]:
        """Changed claims that were valid in both runs, each on one row, and that Salesforce took."""
        rejected = {r["claim_id"] for r in self.rejects + self.full_rejects}
        return sorted(self.changed - rejected - {f["claim_id"] for f in self.failures})


def local(world: WorldProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return run(*args, "--local", state_dir=world.state_dir)


def sync(world: WorldProcess) -> dict[str, Any]:
    result = run("local", "sync", "--json", state_dir=world.state_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def report_csv(world: WorldProcess, run_id: str, name: str) -> list[dict[str, str]]:
    s3 = aws_client(world.endpoints, "s3")
    body = s3.get_object(Bucket=world.endpoints["aws"]["bucket"], Key=f"reports/{run_id}/{name}")["Body"]
    return list(csv.DictReader(io.StringIO(body.read().decode("utf-8"))))


@pytest.fixture(scope="module")
def runs(world: WorldProcess) -> Runs:
    full = sync(world)
    assert full["status"] in ("SUCCEEDED", "PARTIAL") and full["sent"] > 0

    rows = world.admin("collaboratemd", "GET", "/rows")["rows"]
    changed_rows, changed = mutate_rows(rows, share=0.1, seed=5)
    world.admin("collaboratemd", "PUT", "/rows", changed_rows)
    world.admin(
        "salesforce",
        "POST",
        "/faults",
        {"kind": "lock_row", "share": 0.2, "seed": 3, "max_per_record": 99},
    )
    try:
        incremental = sync(world)
    finally:
        world.admin("salesforce", "DELETE", "/faults")
    assert incremental["status"] == "PARTIAL" and incremental["failed"] > 0 and incremental["rejected"] > 0

    world.admin("collaboratemd", "POST", "/faults", {"kind": "results_status", "status": "ERROR", "count": 1})
    failed = run("local", "sync", "--json", state_dir=world.state_dir)
    assert failed.returncode == 1, failed.stderr[-2000:]
    return Runs(
        full=full["run_id"],
        incremental=incremental["run_id"],
        failed=json.loads(failed.stdout.strip().splitlines()[-1])["run_id"],
        rows=changed_rows,
        changed=valid_claim_ids(changed_rows) & set(changed),
        rejects=report_csv(world, incremental["run_id"], "rejects.csv"),
        failures=report_csv(world, incremental["run_id"], "failures.csv"),
        full_rejects=report_csv(world, full["run_id"], "rejects.csv"),
    )


@pytest.fixture(scope="module")
def salesforce(world: WorldProcess) -> Salesforce:
    """simple-salesforce on the world's org (client-credentials token), to check what `claim` says."""
    sf = world.endpoints["salesforce"]
    http = requests.Session()
    http.verify = sf["ca_cert"]
    http.trust_env = False  # else REQUESTS_CA_BUNDLE, where set, wins over the session's CA
    token = http.post(
        sf["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": sf["client_id"],
            "client_secret": sf["client_secret"],
        },
        timeout=30,
    ).json()["access_token"]
    return Salesforce(
        instance_url=sf["instance_url"], session_id=token, session=http, version=sf["api_version"]
    )


def record_of(salesforce: Salesforce, claim: str) -> dict[str, Any] | None:
    soql = "SELECT Id, Last_Sync_Run__c, Payor_Mapping_Status__c FROM Claim__c WHERE Claim_Number__c = {}"
    found = salesforce.query(format_soql(soql, claim))["records"]
    return found[0] if found else None


def story_lines(stdout: str) -> dict[str, list[str]]:
    """The WHAT HAPPENED column of `claim`, by run id (continuation lines join the run above)."""
    table = stdout.split("newest first:\n", 1)[1].splitlines()
    start = table[0].index("WHAT HAPPENED")
    lines: dict[str, list[str]] = {}
    current = ""
    for line in table[1:]:
        if line[:start].strip():
            current = line.split()[0]
        lines.setdefault(current, []).append(line[start:].strip())
    return lines


# ---- claim --------------------------------------------------------------------------------------------
def test_claim_tells_a_changed_claim_was_sent_and_landed_and_shows_its_record(
    world: WorldProcess, runs: Runs, salesforce: Salesforce
) -> None:
    claim = runs.landed_then_changed()[0]
    result = local(world, "claim", claim, "--runs", "3")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    said = story_lines(result.stdout)
    assert list(said) == [runs.failed, runs.incremental, runs.full]
    assert said[runs.incremental] == [
        f"changed: sent, succeeded; payor {record_of(salesforce, claim)['Payor_Mapping_Status__c']}"
    ]  # type: ignore[index]
    assert said[runs.full][0].startswith("new: sent, succeeded; payor ")
    assert said[runs.failed][0].startswith("cannot tell: the run failed before writing its report (")

    record = record_of(salesforce, claim)
    assert record is not None and record["Last_Sync_Run__c"] == runs.incremental
    assert re.search(rf"^  Claim__c record id\s+{record['Id']}$", result.stdout, re.M)
    assert re.search(rf"^  Last_Sync_Run__c\s+{runs.incremental}$", result.stdout, re.M)
    assert re.search(
        rf"^  Payor_Mapping_Status__c\s+{record['Payor_Mapping_Status__c']}$", result.stdout, re.M
    )


def test_claim_tells_a_failed_claim_its_salesforce_error_and_that_the_record_kept_the_last_landing(
    world: WorldProcess, runs: Runs, salesforce: Salesforce
) -> None:
    full_rejected = {r["claim_id"] for r in runs.full_rejects}
    failure = next(f for f in runs.failures if f["claim_id"] not in full_rejected)
    result = local(world, "claim", failure["claim_id"], "--runs", "3")
    assert result.returncode == 0, result.stderr
    said = story_lines(result.stdout)
    assert said[runs.incremental][0].startswith(
        f"changed: sent, FAILED in Salesforce ({failure['error_code']}); payor "
    )
    record = record_of(salesforce, failure["claim_id"])
    assert record is not None and record["Last_Sync_Run__c"] == runs.full  # the failed write did not land
    assert re.search(rf"^  Last_Sync_Run__c\s+{runs.full}$", result.stdout, re.M)


def test_claim_tells_a_rejected_claim_its_reason_and_column(
    world: WorldProcess, runs: Runs, salesforce: Salesforce
) -> None:
    reject = next(
        r
        for r in runs.rejects
        if r in runs.full_rejects
        and r["claim_id"]
        and ";" not in r["reasons"]
        and "DUPLICATE" not in r["reasons"]
    )
    code, column = reject["reasons"].split(":")
    result = local(world, "claim", reject["claim_id"], "--runs", "3")
    assert result.returncode == 0, result.stderr
    said = story_lines(result.stdout)
    assert said[runs.incremental] == [f"rejected (row {reject['row_number']}): {code} in {column}"]
    assert said[runs.full] == said[runs.incremental], "the same row was rejected in both runs"
    assert record_of(salesforce, reject["claim_id"]) is None
    assert "Salesforce now: no Claim__c record with this claim number" in result.stdout


def test_claim_not_in_the_report_says_so_for_each_run(world: WorldProcess, runs: Runs) -> None:
    served = {row["ClaimID"].strip().lower() for row in runs.rows}
    claim = "NOT-IN-ANY-REPORT-1"
    assert claim.lower() not in served
    result = local(world, "claim", claim)
    assert result.returncode == 0, result.stderr
    said = story_lines(result.stdout)
    assert said[runs.incremental] == said[runs.full] == ["not in the report"]
    assert re.search(rf"^{runs.full}\s+\S+\s+\S+ \S+\s+no\s+not in the report$", result.stdout, re.M)


def test_claim_json_is_one_object_with_the_record_and_each_runs_rows(
    world: WorldProcess, runs: Runs, salesforce: Salesforce
) -> None:
    claim = runs.landed_then_changed()[-1]
    result = local(world, "claim", claim, "--json", "--runs", "2")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    story = json.loads(result.stdout)
    record = record_of(salesforce, claim)
    assert record is not None
    assert story["claim"] == claim
    assert story["salesforce"] == {
        "record_id": record["Id"],
        "last_sync_run": runs.incremental,
        "payor_mapping_status": record["Payor_Mapping_Status__c"],
        "payor_record_id": story["salesforce"]["payor_record_id"],
    }
    newest, incremental = story["runs"]
    assert (newest["run_id"], newest["status"], newest["index"], newest["in_report"]) == (
        runs.failed,
        "FAILED",
        "no_report",
        None,
    )
    assert incremental["run_id"] == runs.incremental and incremental["in_report"] is True
    assert incremental["rows"] == [
        {
            "claim": claim,
            "outcome": "changed",
            "payor": record["Payor_Mapping_Status__c"],
            "result": "succeeded",
        }
    ]


def test_a_claim_id_with_quotes_reaches_salesforce_as_one_literal(world: WorldProcess, runs: Runs) -> None:
    result = local(world, "claim", "O'Brien\\' OR Name != '", "--runs", "1")
    assert result.returncode == 0, result.stderr
    assert "Salesforce now: no Claim__c record with this claim number" in result.stdout


def test_claim_without_an_id_is_a_usage_error(world: WorldProcess) -> None:
    assert "a claim id is needed" in assert_one_error_line(local(world, "claim", "  "), 2)


# ---- report -------------------------------------------------------------------------------------------
def claim_values(rows: list[dict[str, str]]) -> set[str]:
    """Claim ids and patient names of the report's rows (long enough not to be a count or a word)."""
    values = {row["ClaimID"].strip() for row in rows if len(row["ClaimID"].strip()) >= 6}
    values |= {row["PateintNameID"].strip() for row in rows if row["PateintNameID"].strip()}
    return values


def test_report_writes_one_self_contained_page_with_charts_and_no_claim_value(
    world: WorldProcess, runs: Runs, tmp_path: Path
) -> None:
    path = tmp_path / "run.html"
    result = local(world, "report", runs.incremental, "--html", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"run page of {runs.incremental}: {path.resolve()}"
    page, html = Page.of(path)
    assert len(page.charts()) >= 6, "accounting, timeline, rejects, failures, API use, last runs"
    assert page.loads() == []
    assert "@import" not in html and "url(" not in html
    assert any(t == "meta" and a.get("http-equiv") == "Content-Security-Policy" for t, a in page.tags)
    leaked = [v for v in claim_values(runs.rows) if v in html]
    assert leaked == [], f"claim values on a page without --with-claims: {leaked[:5]}"
    assert "PHI" not in html

    text = page.plain_text()
    summary = json.loads(local(world, "runs", "--json", "--limit", "3").stdout.splitlines()[1])["summary"]
    assert summary["rows_in"] == len(runs.rows)
    assert (
        f"rows in {summary['rows_in']:,} = sent {summary['sent']:,} + unchanged {summary['unchanged']:,} "
        f"+ rejected {summary['rejected']:,} ✓ holds" in text
    )
    assert (
        f"sent {summary['sent']:,} = succeeded {summary['succeeded']:,} + failed {summary['failed']:,} ✓ holds"
        in text
    )
    for phase in ("prepare", "report", "payors", "transform", "upload", "finish"):
        assert re.search(rf"\b{phase} done \d+\.\d s \d+\.\d s", text), phase
    reasons = {
        code for r in runs.rejects for code, _, _ in (p.partition(":") for p in r["reasons"].split(";"))
    }
    columns = {
        col for r in runs.rejects for _, _, col in (p.partition(":") for p in r["reasons"].split(";")) if col
    }
    assert all(f" {code} " in f" {text} " for code in reasons), reasons
    assert all(f" {column} " in f" {text} " for column in columns), columns
    codes = {f["error_code"] for f in runs.failures}
    assert all(f"{code} {sum(f['error_code'] == code for f in runs.failures)}" in text for code in codes)
    assert "SP001 Self Pay" in text, "the unmapped payers"
    assert "daily API requests" in text
    assert "The last 3 runs" in text and f"{runs.failed} FAILED" in text


def test_report_with_claims_lists_the_claims_and_says_it_is_phi_first(
    world: WorldProcess, runs: Runs, tmp_path: Path
) -> None:
    path = tmp_path / "run-with-claims.html"
    result = local(world, "report", runs.incremental, "--html", str(path), "--with-claims")
    assert result.returncode == 0, result.stderr
    assert "holds claim-level rows (PHI)" in result.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    page, html = Page.of(path)
    body = html.split("<body>", 1)[1].lstrip()
    assert body.startswith('<div class="phi">This page holds PHI')
    assert page.loads() == []
    for claim in {r["claim_id"] for r in runs.rejects if r["claim_id"]} | {
        f["claim_id"] for f in runs.failures
    }:
        assert f"<td>{claim}</td>" in html, claim
    for claim in runs.changed:
        assert f"<td>{claim}</td>" in html, claim


def test_report_of_a_failed_run_says_where_and_why_it_failed(
    world: WorldProcess, runs: Runs, tmp_path: Path
) -> None:
    path = tmp_path / "failed.html"
    result = local(world, "report", runs.failed, "--html", str(path))
    assert result.returncode == 0, result.stderr
    page, _ = Page.of(path)
    text = page.plain_text()
    assert "FAILED" in text and "the CollaborateMD report failed (results: ERROR)" in text
    assert re.search(r"\breport failed \d+\.\d s \d+\.\d s the CollaborateMD report failed", text)
    assert "No counts: the run did not get as far as its summary." in text
    assert page.loads() == []


def test_report_errors_are_one_line(world: WorldProcess, runs: Runs, tmp_path: Path) -> None:
    unknown = local(world, "report", "no-such-run", "--html", str(tmp_path / "x.html"))
    assert "no run 'no-such-run'" in assert_one_error_line(unknown, 5)
    unwritable = local(world, "report", runs.full, "--html", str(tmp_path / "missing-dir" / "x.html"))
    assert "cannot write the page" in assert_one_error_line(unwritable, 4)


# ---- last: a run whose reports expired ---------------------------------------------------------------------
@pytest.fixture
def expired(world: WorldProcess, runs: Runs) -> Iterator[str]:
    """The full run's reports removed, as the bucket's lifecycle rule does after reports_expiry_days."""
    s3 = aws_client(world.endpoints, "s3")
    bucket = world.endpoints["aws"]["bucket"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"reports/{runs.full}/")["Contents"]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": o["Key"]} for o in listed]})
    yield runs.full


def test_claim_in_a_run_whose_reports_expired_says_so(world: WorldProcess, runs: Runs, expired: str) -> None:
    claim = runs.landed_then_changed()[0]
    result = local(world, "claim", claim, "--runs", "3")
    assert result.returncode == 0, result.stderr
    said = story_lines(result.stdout)
    assert said[expired] == ["cannot tell: the run's reports have expired (kept reports_expiry_days)"]
    assert said[runs.incremental][0].startswith("changed: sent")
