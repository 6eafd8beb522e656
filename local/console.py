"""What the ``claimsync`` command line prints: live progress, run summaries, the runs table.

Text only, built from counts, codes and names (never a claim value). Tables are aligned with plain
spaces so they read the same in a terminal, a log file and a CI transcript.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from claimsync.operator.claim import (
    INDEX_EXPIRED,
    INDEX_FOUND,
    INDEX_NOT_WRITTEN,
    ClaimInRun,
    SalesforceClaim,
)
from claimsync.operator.runs import RunRecord, parse_time
from claimsync.progress.error_texts import error_text
from claimsync.progress.updates import (
    Note,
    Pages,
    PhaseEnded,
    Retrying,
    RunEnded,
    Update,
    Waiting,
)

BAR_WIDTH = 24


# --------------------------------------------------------------------------------------------------
# Tables


def table(rows: Sequence[Sequence[Any]], *, header: Sequence[str] | None = None, indent: str = "") -> str:
    """Rows as aligned columns: numbers right-aligned, text left-aligned, two spaces between."""
    cells = [[_cell(v) for v in row] for row in ([header] if header else []) + list(rows)]
    if not cells:
        return ""
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(max(map(len, cells)))]
    numeric = [
        all(_is_number(row[i]) for row in rows if i < len(row) and row[i] not in (None, "", "-"))
        and any(i < len(row) and _is_number(row[i]) for row in rows)
        for i in range(len(widths))
    ]
    lines = []
    for row in cells:
        parts = [cell.rjust(widths[i]) if numeric[i] else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append((indent + "  ".join(parts)).rstrip())
    return "\n".join(lines)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def clock(text: str) -> str:
    """A run timestamp as ``2024-01-02 03:04:05`` (UTC)."""
    moment = parse_time(text)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


# --------------------------------------------------------------------------------------------------
# Live progress


class ProgressPrinter:
    """Prints the tracker's updates as they come: one line per phase, wait, retry; a page bar.

    On a terminal the page bar is redrawn in place; elsewhere (a pipe, a log) it is printed at each
    tenth of the pages, so a transcript stays short.
    """

    def __init__(self, stream: TextIO, *, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self._bar_open = False
        self._last_tenth = -1

    def __call__(self, update: Update) -> None:
        if isinstance(update, Pages):
            self._pages(update)
        elif isinstance(update, PhaseEnded):
            word = {"done": "done", "failed": "FAILED", "stopped": "stopped"}[update.outcome]
            text = f"{word} in {duration(update.elapsed_s)}"
            self._line(update.at_s, update.phase, f"{text} — {update.detail}" if update.detail else text)
        elif isinstance(update, Waiting | Retrying | Note):
            self._line(update.at_s, update.phase, update.text)
        elif isinstance(update, RunEnded):
            self._close_bar()

    def _line(self, at_s: float, phase: str, text: str) -> None:
        self._close_bar()
        print(f"{at_s:7.1f} s  {phase:<9}  {text}", file=self.stream, flush=True)

    def _pages(self, update: Pages) -> None:
        total = max(update.total, 1)
        filled = BAR_WIDTH * update.done // total
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        text = f"{update.at_s:7.1f} s  {'transform':<9}  [{bar}] {update.done}/{update.total} pages"
        if self.tty:
            print("\r" + text, end="", file=self.stream, flush=True)
            self._bar_open = True
            if update.done >= update.total:
                self._close_bar()
            return
        tenth = 10 * update.done // total
        if tenth != self._last_tenth or update.done >= update.total:
            self._last_tenth = tenth
            print(text, file=self.stream, flush=True)

    def _close_bar(self) -> None:
        if self._bar_open:
            print(file=self.stream, flush=True)
            self._bar_open = False


# --------------------------------------------------------------------------------------------------
# A run's summary


def _how(summary: dict[str, Any]) -> str:
    if summary.get("dry_run"):
        return "dry run"
    return "full sync" if summary.get("full_sync") else "incremental"


def failure_line(summary: dict[str, Any]) -> str:
    """Why a run failed, in one line."""
    how = summary.get("execution_status", "FAILED")
    ended = "" if how in ("FAILED", None) else f" ({how})"
    return (
        f"run {summary.get('run_id')} failed{ended}: {error_text(summary.get('error'), summary.get('cause'))}"
    )


def format_summary(summary: dict[str, Any]) -> str:
    """The run's outcome as an aligned table; a dry run says what *would* be sent."""
    run_id = summary.get("run_id") or summary.get("execution")
    status = summary["status"]
    took = summary.get("duration_s", summary.get("execution_duration_s"))
    head = f"run {run_id}: {status}"
    if status == "FAILED":
        lines = [head, f"  {failure_line(summary)}"]
        if summary.get("error"):
            lines.append(f"  error {summary['error']}: {summary.get('cause') or ''}".rstrip(": "))
        lines.append("  nothing moved the checkpoint: the next run picks up everything this one did not land")
        lines.extend(_footer(summary, took))
        return "\n".join(lines)
    if status == "ALREADY_RUNNING":
        return "\n".join(
            [f"{head} — another run holds the lock; this one did nothing", *_footer(summary, took)]
        )
    if status == "RUNNING":
        return f"{head} — still going"
    dry = bool(summary.get("dry_run")) or status == "DRY_RUN"
    lines = [f"{head} ({_how(summary)}{', nothing was written to Salesforce' if dry else ''})", ""]
    new, changed = summary.get("new"), summary.get("changed")
    split = f"new {new:,}, changed {changed:,}" if isinstance(new, int) and isinstance(changed, int) else ""
    rows: list[list[Any]] = [
        ["rows in the report", summary.get("rows_in"), ""],
        ["  would send" if dry else "  sent", summary.get("sent"), split],
        ["  unchanged", summary.get("unchanged"), ""],
        ["  rejected", summary.get("rejected"), "see rejects.csv" if summary.get("rejected") else ""],
    ]
    if not dry:
        rows += [
            ["sent", summary.get("sent"), ""],
            ["  succeeded", summary.get("succeeded"), ""],
            ["  failed", summary.get("failed"), "see failures.csv" if summary.get("failed") else ""],
        ]
    lines.append(table(rows, indent="  "))
    reasons = summary.get("reject_reasons") or {}
    if reasons:
        lines += ["", table(sorted(reasons.items()), header=["rejected because", "rows"], indent="  ")]
    codes = summary.get("failure_codes") or {}
    if codes:
        lines += ["", table(sorted(codes.items()), header=["Salesforce error", "rows"], indent="  ")]
    payers = summary.get("unmapped_payers") or []
    if payers:
        shown = [[p.get("payer_id"), p.get("payer_name"), p.get("claims")] for p in payers[:10]]
        lines += ["", table(shown, header=["unmapped payer", "name", "claims"], indent="  ")]
        if len(payers) > 10:
            lines.append(f"  … {len(payers) - 10} more unmapped payers in summary.json")
    elif summary.get("unmapped_payer_count"):
        lines += ["", f"  unmapped payers: {summary['unmapped_payer_count']} (listed in summary.json)"]
    reports = summary.get("reports") or {}
    if reports:
        lines += [""] + [f"  {name:<9} {uri}" for name, uri in sorted(reports.items())]
    lines.extend(_footer(summary, took))
    return "\n".join(lines)


def _footer(summary: dict[str, Any], took: Any) -> list[str]:
    facts = []
    if summary.get("upload_mode") and summary.get("upload_mode") not in ("NONE", "DRY_RUN"):
        facts.append(f"upload {summary['upload_mode']}")
    if summary.get("salesforce_api_calls") is not None:
        facts.append(f"Salesforce API calls {summary['salesforce_api_calls']}")
    if summary.get("state_transitions") is not None:
        facts.append(f"state transitions {summary['state_transitions']}")
    if isinstance(took, int | float):
        facts.append(duration(float(took)))
    return ["", "  " + " · ".join(facts)] if facts else []


# --------------------------------------------------------------------------------------------------
# Runs


RUNS_HEADER = (
    "run id",
    "status",
    "started (UTC)",
    "finished (UTC)",
    "duration",
    "rows in",
    "sent",
    "unchanged",
    "rejected",
    "succeeded",
    "failed",
    "note",
)


def runs_rows(records: Iterable[RunRecord]) -> list[list[Any]]:
    rows = []
    for record in records:
        s = record.summary
        if record.status in ("FAILED", "ABORTED", "TIMED_OUT"):  # the last two: written by AbnormalEnd
            note = f"{record.failed_state}: {record.error}".strip(": ")
        elif record.status == "RUNNING":
            started = parse_time(record.started_at)
            note = f"running for {duration((datetime.now(UTC) - started).total_seconds())}" if started else ""
        else:
            note = _how(s) if s else ""
            if s.get("dry_run"):
                note = "dry run: counts are what would be sent"
        rows.append(
            [
                record.run_id,
                record.status,
                clock(record.started_at),
                clock(record.finished_at),
                duration(record.duration_s),
                s.get("rows_in"),
                s.get("sent"),
                s.get("unchanged"),
                s.get("rejected"),
                None if s.get("dry_run") else s.get("succeeded"),
                None if s.get("dry_run") else s.get("failed"),
                note,
            ]
        )
    return rows


def format_runs(records: Sequence[RunRecord]) -> str:
    if not records:
        return "no runs recorded yet"
    return table(runs_rows(records), header=[h.upper() for h in RUNS_HEADER])


def format_failures(reports: dict[str, str | None]) -> str:
    parts = []
    for name, text in reports.items():
        parts.append(f"== {name} ==")
        parts.append(text.rstrip("\n") if text is not None else "(none: the run wrote no such file)")
    return "\n".join(parts)


def started_line(run_id: str, how: str, where: str) -> str:
    return f"run {run_id}: started ({how}) in {where}"


# --------------------------------------------------------------------------------------------------
# One claim's story


def reject_reasons(reasons: Iterable[str]) -> list[tuple[str, str | None]]:
    """``["CODE:column;CODE"]`` (the claim index and rejects.csv) as ``[(code, column or None)]``."""
    pairs: list[tuple[str, str | None]] = []
    for text in reasons:
        for part in str(text).split(";"):
            if part:
                code, _, column = part.partition(":")
                pairs.append((code, column or None))
    return pairs


def claim_row_text(row: dict[str, Any]) -> str:
    """What a run did with one report row of the claim, in words."""
    outcome = row.get("outcome")
    where = f" (row {row['row']})" if row.get("row") else ""
    if outcome == "rejected":
        reasons = reject_reasons(row.get("reasons") or [])
        said = "; ".join(code if column is None else f"{code} in {column}" for code, column in reasons)
        return f"rejected{where}: {said or 'no reason recorded'}"
    payor = f"; payor {row['payor']}" if row.get("payor") else ""
    if outcome == "unchanged":
        return f"unchanged: not sent{payor}"
    result = row.get("result")
    if result == "dry_run":
        return f"{outcome}: would be sent (dry run){payor}"
    if result == "failed":
        return f"{outcome}: sent, FAILED in Salesforce ({row.get('error') or 'no code'}){payor}"
    if result == "succeeded":
        return f"{outcome}: sent, succeeded{payor}"
    return f"{outcome}: sent{payor}"


def claim_run_text(entry: ClaimInRun) -> list[str]:
    """One line per report row of the claim in the run, or one line saying why the run cannot tell."""
    if entry.index == INDEX_FOUND:
        return [claim_row_text(row) for row in entry.rows] or ["not in the report"]
    if entry.index == INDEX_EXPIRED:
        return ["cannot tell: the run's reports have expired (kept reports_expiry_days)"]
    if entry.index == INDEX_NOT_WRITTEN:
        return ["cannot tell: the run's report has no claim index (written before claim indexes)"]
    if entry.run.status == "RUNNING":
        return ["cannot tell yet: the run is still going"]
    if entry.run.status == "FAILED":
        failed = f"{entry.run.failed_state}: {entry.run.error}".strip(": ")
        return [f"cannot tell: the run failed before writing its report ({failed or 'see claimsync runs'})"]
    return ["cannot tell: the run wrote no report"]


def format_claim_story(
    claim_id: str,
    story: Sequence[ClaimInRun],
    salesforce: SalesforceClaim | None,
    problem: str | None,
    fields: tuple[str, str, str, str],
) -> str:
    """The claim's record in Salesforce now, then a line per run (newest first) and per row.

    ``fields``: the names of the object, the run field, the payor status field and the payor lookup
    (from the claim mapping), as the operator finds them in Salesforce."""
    obj, run_field, status_field, lookup_field = fields
    lines = [f"claim {claim_id} — this output holds claim data: keep it off tickets", ""]
    if problem is not None:
        lines.append(f"Salesforce now: not read ({problem})")
    elif salesforce is None:
        lines.append(f"Salesforce now: no {obj} record with this claim number")
    else:
        rows = [
            [f"{obj} record id", salesforce.record_id],
            [run_field, salesforce.last_sync_run or "(empty)"],
            [status_field, salesforce.payor_mapping_status or "(empty)"],
            [lookup_field, salesforce.payor_record_id or "(empty)"],
        ]
        lines += ["Salesforce now:", table(rows, indent="  ")]
    lines.append("")
    if not story:
        lines.append("no runs recorded yet")
        return "\n".join(lines)
    table_rows: list[list[Any]] = []
    for entry in story:
        what = claim_run_text(entry)
        in_report = {True: "yes", False: "no", None: "-"}[entry.in_report]
        run = entry.run
        table_rows.append([run.run_id, run.status, clock(run.started_at), in_report, what[0]])
        table_rows.extend(["", "", "", "", more] for more in what[1:])
    header = ["RUN ID", "STATUS", "STARTED (UTC)", "IN REPORT", "WHAT HAPPENED"]
    lines.append(f"the last {len(story)} run(s), newest first:")
    lines.append(table(table_rows, header=header))
    return "\n".join(lines)
