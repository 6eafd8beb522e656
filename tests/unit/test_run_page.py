"""The run page's rendering (local/runpage.py) from a page model, and where its plotting library may be
imported. The page of a real run is tested as a subprocess against a local world (tests/cli)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from claimsync.operator.runs import RunRecord
from claimsync.progress.updates import PhaseEnded, Retrying, Waiting
from local import runpage
from tests.runpage import Page

pytestmark = pytest.mark.unit

HOSTILE = '<script src="https://evil.example/x.js"></script><img src=//evil.example/p.png>'


def page_of(summary: dict[str, object], **kwargs: object) -> runpage.RunPage:
    record = RunRecord(
        run_id="manual-1",
        status=str(summary.get("status", "PARTIAL")),
        started_at="2026-03-01T06:00:00.000Z",
        finished_at="2026-03-01T06:01:30.000Z",
        summary=summary,
    )
    timeline = runpage.Timeline(
        execution_status="SUCCEEDED",
        started_at="2026-03-01T06:00:00+00:00",
        stopped_at="2026-03-01T06:01:30+00:00",
        duration_s=90.0,
        phases=(
            PhaseEnded("prepare", "done", 1.0, "", 1.0),
            PhaseEnded("report", "done", 60.0, "300 rows in 1 page(s)", 61.0),
            PhaseEnded("upload", "done", 20.0, "", 85.0),
        ),
        events=(
            Waiting("report", "CollaborateMD report requested — first check in 20 s", 20, 2.0),
            Retrying("upload", "Salesforce 503 on the Bulk upload — retry 1 of 5", 1, 5, 70.0),
        ),
        stats={"state_transitions": 30, "retries": 1, "history_events": 120},
    )
    values: dict[str, object] = {
        "run_id": "manual-1",
        "where": "stack Claimsync-ClaimSync (us-east-1)",
        "generated_at": datetime(2026, 3, 1, tzinfo=UTC).isoformat(),
        "status": record.status,
        "record": record,
        "summary": summary,
        "timeline": timeline,
        "rejects_by_reason": {"INVALID_AMOUNT": 2},
        "rejects_by_column": {"ClaimTotalAmount": 2},
        "failures_by_code": {},
        "recent": (record,),
    }
    values.update(kwargs)
    return runpage.RunPage(**values)  # type: ignore[arg-type]


SUMMARY = {"status": "PARTIAL", "rows_in": 10, "sent": 5, "unchanged": 3, "rejected": 2, "succeeded": 4,
           "failed": 1, "page_count": 1, "salesforce_api_usage": {"used": 10, "max": 1000}}  # fmt: skip


@pytest.fixture(scope="module")
def summary_page() -> str:
    """The page of SUMMARY, rendered once for the tests that read it (a render draws six matplotlib
    charts: ~0.5 s of CPU)."""
    return runpage.render(page_of(SUMMARY))


def test_values_from_the_run_are_escaped_so_the_page_still_loads_nothing() -> None:
    summary = {**SUMMARY, "unmapped_payers": [{"payer_id": "X1", "payer_name": HOSTILE, "claims": 1}]}
    html = runpage.render(page_of(summary, failures_by_code={HOSTILE: 1}))
    page = Page.parse(html)
    assert page.loads() == []
    assert HOSTILE in page.plain_text(), "shown as text"
    assert len(page.charts()) == 6


def test_the_accounting_equations_say_whether_they_hold(summary_page: str) -> None:
    text = Page.parse(summary_page).plain_text()
    assert "rows in 10 = sent 5 + unchanged 3 + rejected 2 ✓ holds" in text
    assert "sent 5 = succeeded 4 + failed 1 ✓ holds" in text
    broken = Page.parse(runpage.render(page_of({**SUMMARY, "failed": 0}))).plain_text()
    assert "sent 5 = succeeded 4 + failed 0 ✗ does not hold" in broken


def test_a_dry_run_page_says_would_send_and_has_no_sent_equation() -> None:
    summary = {**SUMMARY, "status": "DRY_RUN", "dry_run": True, "succeeded": 0, "failed": 0}
    text = Page.parse(runpage.render(page_of(summary))).plain_text()
    assert "rows in 10 = would send 5 + unchanged 3 + rejected 2 ✓ holds" in text
    assert "= succeeded" not in text and "nothing was written to Salesforce" in text


def test_the_timeline_lists_each_phase_and_the_waits_and_retries(summary_page: str) -> None:
    text = Page.parse(summary_page).plain_text()
    assert "report done 1.0 s 1 min 00 s 300 rows in 1 page(s)" in text
    assert "70.0 s upload Salesforce 503 on the Bulk upload — retry 1 of 5" in text


def test_only_a_page_with_claims_has_claim_rows_and_it_says_phi_first(summary_page: str) -> None:
    claims = runpage.ClaimRows((runpage.ClaimRow("40000012", 7, "rejected", detail="INVALID_AMOUNT"),), 0, 3)
    with_claims = runpage.render(page_of(SUMMARY, claims=claims))
    assert with_claims.split("<body>", 1)[1].lstrip().startswith('<div class="phi">This page holds PHI')
    assert "<td>40000012</td>" in with_claims and "3 unchanged claims are not listed" in with_claims
    assert "PHI" not in summary_page


def test_the_lambda_code_never_imports_the_plotting_library() -> None:
    """matplotlib is a development dependency: no module of the Lambda bundle may need it."""
    probe = (
        "import importlib, pkgutil, sys\n"
        "import claimsync, handlers\n"
        "for package in (handlers, claimsync):  # the handlers first: the order Lambda imports in\n"
        "    for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        importlib.import_module(module.name)\n"
        "loaded = sorted(n for n in sys.modules if n.split('.')[0] in ('matplotlib', 'numpy', 'PIL', 'local'))\n"
        "assert not loaded, loaded\n"
        "print(len([n for n in sys.modules if n.startswith(('claimsync.', 'handlers.'))]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout) > 20, "every module of the package was imported"
