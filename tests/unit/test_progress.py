"""The progress tracker (claimsync.progress.tracker) on recorded execution histories, and its tables.

The histories in tests/unit/histories/ are real runs on the local world (``python -m
tests.unit.histories.record`` records them again); the definition is the repository's ASL.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from claimsync import layout
from claimsync.operator.execution import history_stats
from claimsync.progress.error_texts import cause_message, error_text
from claimsync.progress.states import FAILURE_PATH, STATE_PHASES, WAIT_TEXTS
from claimsync.progress.tracker import ProgressTracker
from claimsync.progress.updates import PHASES, Pages, PhaseEnded, Retrying, RunEnded, Update, Waiting
from local.console import ProgressPrinter, format_summary

pytestmark = pytest.mark.unit

HISTORIES = Path(__file__).parent / "histories"
DEFINITION = json.loads(layout.ASL_PATH.read_text())


def history(name: str) -> list[dict[str, Any]]:
    events = json.loads((HISTORIES / f"{name}.json").read_text())
    for event in events:
        event["timestamp"] = datetime.fromisoformat(event["timestamp"])
    return events


def updates(name: str, definition: dict[str, Any] | None = DEFINITION) -> list[Update]:
    tracker = ProgressTracker(definition)
    return [u for event in history(name) for u in tracker.feed(event)]


def all_states(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for name, state in states.items():
        found[name] = state
        for branch in state.get("Branches", ()):
            found.update(all_states(branch["States"]))
        if "ItemProcessor" in state:
            found.update(all_states(state["ItemProcessor"]["States"]))
    return found


STATES = all_states(DEFINITION["States"])


# ---- the tables match the ASL ----------------------------------------------------------------------
def test_every_state_of_the_asl_has_a_phase_and_no_phase_names_a_state_that_is_gone() -> None:
    assert set(STATE_PHASES) == set(STATES)
    assert {p for p in STATE_PHASES.values() if p is not None} == set(PHASES)


def test_the_failure_path_is_every_catch_target_and_what_follows_it() -> None:
    targets = {c["Next"] for s in STATES.values() for c in s.get("Catch", ())} - {"AlreadyRunning", "Done"}
    assert targets <= FAILURE_PATH
    assert {STATES[name]["Next"] for name in FAILURE_PATH if "Next" in STATES[name]} <= FAILURE_PATH


def test_every_wait_state_has_its_texts() -> None:
    assert set(WAIT_TEXTS) == {name for name, s in STATES.items() if s["Type"] == "Wait"}


# ---- recorded runs -----------------------------------------------------------------------------------
def test_a_run_with_retries_tells_each_retry_wait_phase_and_page() -> None:
    got = updates("bulk_with_retries")
    ended = [u for u in got if isinstance(u, PhaseEnded)]
    assert sorted(u.phase for u in ended) == sorted(PHASES)
    assert all(u.outcome == "done" for u in ended)
    assert [u.phase for u in ended][-3:] == ["transform", "upload", "finish"]
    by_phase = {u.phase: u for u in ended}
    assert by_phase["report"].detail == "1,500 rows in 4 page(s)"
    assert by_phase["payors"].detail == "20 payor mappings"
    assert by_phase["transform"].detail == "1,485 to send, 0 unchanged, 15 rejected"
    assert by_phase["upload"].detail == "1,485 sent in 1 Bulk job(s)"
    assert by_phase["finish"].detail == "status PARTIAL"
    assert all(u.elapsed_s >= 0 for u in ended)

    retries = [u.text for u in got if isinstance(u, Retrying)]
    assert retries == [
        "CollaborateMD unavailable (run: HTTP 503) — retry 1 of 5",
        "CollaborateMD unavailable (run: HTTP 503) — retry 2 of 5",
        "the CollaborateMD report ZIP arrived damaged (the report ZIP is corrupt) — retry 1 of 2",
        "Salesforce 503 on the Bulk upload — retry 1 of 5",
        "Salesforce 503 on the Bulk upload — retry 2 of 5",
    ]
    waits = [u.text for u in got if isinstance(u, Waiting)]
    assert waits[0] == "CollaborateMD report requested — first check in 20 s"
    assert waits[1] == "CollaborateMD report still running — next check in 40 s"
    assert "Bulk job(s) handed to Salesforce — first check in 5 s" in waits
    assert [(u.done, u.total) for u in got if isinstance(u, Pages)] == [
        (0, 4),
        (1, 4),
        (2, 4),
        (3, 4),
        (4, 4),
    ]
    assert isinstance(got[-1], RunEnded) and got[-1].execution_status == "SUCCEEDED"
    times = [u.at_s for u in got]
    assert times == sorted(times), "updates come in history order"


def test_a_dry_run_says_would_send_and_writes_nothing() -> None:
    got = updates("dry_run")
    details = {u.phase: u.detail for u in got if isinstance(u, PhaseEnded)}
    assert details["transform"] == "0 would send, 1,485 unchanged, 15 rejected"
    assert details["upload"] == "dry run: nothing written (0 would be sent)"
    assert "to send" not in details["transform"]


def test_a_failed_report_is_the_failed_phase_with_its_reason() -> None:
    got = updates("report_failed")
    ended = {u.phase: u for u in got if isinstance(u, PhaseEnded)}
    assert ended["report"].outcome == "failed"
    assert ended["report"].detail == "the CollaborateMD report failed (results: REPORT TIMED OUT)"
    assert ended["payors"].outcome == "done" and ended["finish"].outcome == "done"
    assert "transform" not in ended and "upload" not in ended
    assert isinstance(got[-1], RunEnded) and got[-1].execution_status == "FAILED"


def test_retries_count_up_to_the_limit_then_the_phase_gives_up() -> None:
    got = updates("payors_gave_up")
    retries = [u for u in got if isinstance(u, Retrying)]
    assert [(u.attempt, u.max_attempts) for u in retries] == [(n, 5) for n in range(1, 6)]
    assert all(u.phase == "payors" for u in retries)
    payors = next(u for u in got if isinstance(u, PhaseEnded) and u.phase == "payors")
    assert payors.outcome == "failed"
    assert payors.detail == "Salesforce 503 on a query — gave up after 5 retries"
    report = next(u for u in got if isinstance(u, PhaseEnded) and u.phase == "report")
    assert report.outcome == "stopped", "the other branch of the Parallel did not fail: it was stopped"


def test_without_a_definition_no_retry_limit_is_invented() -> None:
    got = updates("bulk_with_retries", definition=None)
    assert not [u for u in got if isinstance(u, Retrying)]
    assert [u.phase for u in got if isinstance(u, PhaseEnded)].count("upload") == 1


def test_history_stats_count_states_entered_and_retries() -> None:
    stats = history_stats(history("bulk_with_retries"))
    entered = sum(1 for e in history("bulk_with_retries") if e["type"].endswith("StateEntered"))
    assert stats["retries"] == 5
    assert stats["state_transitions"] == entered + 5
    assert stats["history_events"] == len(history("bulk_with_retries"))


# ---- texts ---------------------------------------------------------------------------------------------
LAMBDA_CAUSE = json.dumps(
    {"errorType": "X", "errorMessage": "SERVER_UNAVAILABLE (bulk_upload, HTTP 503)", "stackTrace": ["secret"]}
)


@pytest.mark.parametrize(
    ("error", "cause", "text"),
    [
        ("SalesforceUnavailable", LAMBDA_CAUSE, "Salesforce 503 on the Bulk upload"),
        (
            "SalesforceLimitExceeded",
            json.dumps({"errorMessage": "REQUEST_LIMIT_EXCEEDED (query, HTTP 403)"}),
            "Salesforce API limit reached (REQUEST_LIMIT_EXCEEDED) on a query",
        ),
        (
            "SalesforceUnavailable",
            json.dumps({"errorMessage": "ConnectionError (collections_upsert)"}),
            "Salesforce ConnectionError on the Collections upsert",
        ),
        ("CmdReportBusy", json.dumps({"errorMessage": "start: REPORT RUNNING"}), "CollaborateMD is still running an earlier report (start: REPORT RUNNING)"),
        ("Mystery", json.dumps({"errorMessage": "it broke"}), "Mystery: it broke"),
        ("Mystery", None, "Mystery"),
        ("DynamoDB.ConditionalCheckFailedException", "The conditional request failed", "DynamoDB.ConditionalCheckFailedException: The conditional request failed"),
    ],
)  # fmt: skip
def test_error_texts(error: str, cause: str | None, text: str) -> None:
    assert error_text(error, cause) == text


def test_cause_message_is_one_line_without_stack_trace_and_bounded() -> None:
    assert cause_message(LAMBDA_CAUSE) == "SERVER_UNAVAILABLE (bulk_upload, HTTP 503)"
    long = json.dumps({"errorMessage": "x" * 500 + "\nsecond line"})
    assert len(cause_message(long) or "") == 160 and "\n" not in (cause_message(long) or "")
    assert cause_message(long, limit=None) == "x" * 500


# ---- printing ------------------------------------------------------------------------------------------
class Stream:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def test_printer_writes_one_line_per_update_and_the_page_bar_by_tenths() -> None:
    stream = Stream()
    printer = ProgressPrinter(stream, tty=False)  # type: ignore[arg-type]
    for update in updates("bulk_with_retries"):
        printer(update)
    lines = stream.text.splitlines()
    assert "report     CollaborateMD unavailable (run: HTTP 503) — retry 1 of 5" in lines[1]
    assert any(line.endswith("[########################] 4/4 pages") for line in lines)
    assert re.search(r"^\s+\d+\.\d s  finish     done in \d+\.\d s — status PARTIAL$", lines[-1])


def test_printer_on_a_terminal_redraws_the_bar_in_place() -> None:
    stream = Stream()
    printer = ProgressPrinter(stream, tty=True)  # type: ignore[arg-type]
    for update in updates("dry_run"):
        printer(update)
    bar_line = next(line for line in stream.text.split("\n") if "pages" in line)
    assert bar_line.count("\r") == 5 and bar_line.endswith("4/4 pages")


SUMMARY = {
    "run_id": "full-1",
    "status": "PARTIAL",
    "full_sync": True,
    "dry_run": False,
    "rows_in": 1500,
    "sent": 1485,
    "new": 1485,
    "changed": 0,
    "unchanged": 0,
    "rejected": 15,
    "succeeded": 1480,
    "failed": 5,
    "reject_reasons": {"INVALID_DATE": 10, "DUPLICATE_CLAIM_ID": 5},
    "failure_codes": {"UNABLE_TO_LOCK_ROW": 5},
    "unmapped_payers": [{"payer_id": "P1", "payer_name": "Acme", "claims": 3}],
}


def test_summary_is_an_aligned_table_not_a_python_dict() -> None:
    text = format_summary(SUMMARY)
    assert "{" not in text and "'" not in text
    lines = text.splitlines()
    assert "  rows in the report  1,500" in lines
    reasons = [line for line in lines if "INVALID_DATE" in line or "DUPLICATE_CLAIM_ID" in line]
    assert len(reasons) == 2 and len({len(line) for line in reasons}) == 1, "right-aligned counts"
    assert any(line.split() == ["failed", "5", "see", "failures.csv"] for line in lines)


def test_dry_run_summary_says_would_send_and_never_shows_the_sent_equation() -> None:
    dry = {**SUMMARY, "status": "DRY_RUN", "dry_run": True, "succeeded": 0, "failed": 0}
    text = format_summary(dry)
    assert "would send" in text and "nothing was written to Salesforce" in text
    assert "succeeded" not in text and "failed" not in text.replace("failures", "")
