"""A run's page (``claimsync report``): one self-contained HTML file an operator can open anywhere.

What it shows, and where each part comes from:

- the accounting equations and the status: the run record and ``reports/<run>/summary.json``;
- a timeline of the phases with their durations, waits and retries: the execution history, read by
  the same :class:`~claimsync.progress.tracker.ProgressTracker` that ``sync --follow`` prints from;
- rejects by reason and by column: ``rejects.csv``; unmapped payers: ``summary.json``; failures by
  Salesforce error code: ``failures.csv``; API calls and limit use: the summary's
  ``salesforce_api_usage`` and the history's state transitions;
- the last 30 runs: the run records (``claimsync runs``);
- with ``with_claims`` only, the claim-level rows (rejected, sent and failed claims) from the run's
  claim index and reports. That page is PHI and says so at its top; without it the page holds counts,
  codes, column names and payer ids only — gathered into :class:`RunPage` as such, so no claim value
  is ever in the page model.

The file fetches nothing: charts are SVG images drawn by matplotlib and embedded as ``data:`` URIs,
the style sheet is inline, there is no script, and a Content-Security-Policy forbids any load.
matplotlib is a development dependency (requirements-dev.txt), imported here only: this module is
outside the Lambda package and never bundled.
"""

from __future__ import annotations

import base64
import csv
import io
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from claimsync import layout
from claimsync.history import json_object
from claimsync.operator.deployment import Deployment, OperatorError
from claimsync.operator.execution import execution_arn, history_since, history_stats
from claimsync.operator.runs import RunRecord, get_run, parse_time, recent_runs, run_report
from claimsync.progress.error_texts import error_text
from claimsync.progress.tracker import ProgressTracker
from claimsync.progress.updates import PHASES, Note, PhaseEnded, Retrying, Waiting
from local.console import clock, duration, reject_reasons

RECENT_RUNS = 30
MAX_CLAIM_ROWS = 5000  # claim-level rows listed with --with-claims (the rest are counted)
COLORS = {
    "succeeded": "#2f9e44",
    "sent": "#2f9e44",
    "failed": "#e03131",
    "unchanged": "#adb5bd",
    "rejected": "#f08c00",
    "done": "#1c7ed6",
    "stopped": "#adb5bd",
    "duration": "#5c7cfa",
}
OUTCOME_ORDER = {"rejected": 0, "changed": 1, "new": 2, "unchanged": 3}


# --------------------------------------------------------------------------------------------------
# What the page shows


@dataclass(frozen=True)
class Timeline:
    execution_status: str
    started_at: str
    stopped_at: str
    duration_s: float | None
    phases: tuple[PhaseEnded, ...]
    events: tuple[Waiting | Retrying | Note, ...]
    stats: dict[str, int]


@dataclass(frozen=True)
class ClaimRow:
    """A claim-level row (only with ``with_claims``): PHI."""

    claim: str
    row: int | None
    outcome: str
    result: str = ""
    error: str = ""
    detail: str = ""  # reject reasons, or Salesforce's own message (may echo values)
    payor: str = ""


@dataclass(frozen=True)
class ClaimRows:
    rows: tuple[ClaimRow, ...]
    not_listed: int  # rows past MAX_CLAIM_ROWS
    unchanged: int  # unchanged claims are counted, not listed


@dataclass(frozen=True)
class RunPage:
    run_id: str
    where: str
    generated_at: str
    status: str
    record: RunRecord | None
    summary: dict[str, Any]
    timeline: Timeline | None
    rejects_by_reason: dict[str, int]
    rejects_by_column: dict[str, int]
    failures_by_code: dict[str, int]
    recent: tuple[RunRecord, ...]
    claims: ClaimRows | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------------------------------
# Gathering


def gather(
    client: Callable[[str], Any],
    deployment: Deployment,
    run_id: str,
    *,
    with_claims: bool = False,
    where: str = "",
) -> RunPage:
    """Everything the page shows, read from the run record, the run's reports and its history."""
    s3, dynamodb, sfn = client("s3"), client("dynamodb"), client("stepfunctions")
    notes: list[str] = []
    try:
        record: RunRecord | None = get_run(dynamodb, deployment, run_id)
    except OperatorError:
        record = None
    document = json_object(run_report(s3, deployment, run_id, "summary.json"))
    summary = document if document else dict(record.summary) if record else {}
    timeline = _timeline(sfn, deployment, run_id)
    if record is None and not summary and timeline is None:
        raise OperatorError(f"no run {run_id!r} in {where or deployment.stack_name} (see: claimsync runs)")
    if timeline is None:
        notes.append("The execution history is not available (Step Functions keeps it 90 days).")
    if record is None and not summary:
        notes.append("The run has no record and no report yet.")
    elif not document and record is not None and record.summary:
        notes.append("summary.json is not available (the reports expired): counts are from the run record.")
    status = (
        (record.status if record else "")
        or str(summary.get("status") or "")
        or (timeline.execution_status if timeline else "")
    )

    rejects = _csv_rows(run_report(s3, deployment, run_id, "rejects.csv"))
    failures = _csv_rows(run_report(s3, deployment, run_id, "failures.csv"))
    by_reason: Counter[str] = Counter()
    by_column: Counter[str] = Counter()
    for row in rejects:
        pairs = reject_reasons([row.get("reasons", "")])
        by_reason.update({code for code, _ in pairs})
        by_column.update({column or "(whole row)" for _, column in pairs})
    if not rejects and summary.get("reject_reasons"):
        by_reason.update({str(k): int(v) for k, v in summary["reject_reasons"].items()})
    by_code = Counter(row.get("error_code") or "(none)" for row in failures)
    if not failures and summary.get("failure_codes"):
        by_code.update({str(k): int(v) for k, v in summary["failure_codes"].items()})

    recent = recent_runs(dynamodb, deployment, limit=RECENT_RUNS, stepfunctions=sfn)
    claims = None
    if with_claims:
        claims = _claim_rows(s3, deployment, run_id, summary, rejects, failures)
        if claims is None:
            notes.append("The run's claim index is not available: claim rows are from rejects.csv only.")
            claims = _rows_from_reports(rejects, failures)
    return RunPage(
        run_id=run_id,
        where=where or deployment.stack_name,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        status=status or "UNKNOWN",
        record=record,
        summary=summary,
        timeline=timeline,
        rejects_by_reason=dict(by_reason.most_common()),
        rejects_by_column=dict(by_column.most_common()),
        failures_by_code=dict(by_code.most_common()),
        recent=tuple(recent),
        claims=claims,
        notes=tuple(notes),
    )


def _csv_rows(text: str | None) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text))) if text else []


def _timeline(sfn: Any, deployment: Deployment, run_id: str) -> Timeline | None:
    from local.syncrun import definition_for

    arn = execution_arn(deployment, run_id)
    try:
        described = sfn.describe_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        return None
    events = history_since(sfn, arn)
    tracker = ProgressTracker(definition_for(sfn, arn))
    phases: list[PhaseEnded] = []
    happened: list[Waiting | Retrying | Note] = []
    for event in events:
        for update in tracker.feed(event):
            if isinstance(update, PhaseEnded):
                phases.append(update)
            elif isinstance(update, Waiting | Retrying | Note):
                happened.append(update)
    start, stop = described.get("startDate"), described.get("stopDate")
    took = (
        (stop - start).total_seconds() if isinstance(start, datetime) and isinstance(stop, datetime) else None
    )
    return Timeline(
        execution_status=str(described.get("status", "")),
        started_at=_stamp(start),
        stopped_at=_stamp(stop),
        duration_s=took,
        phases=tuple(phases),
        events=tuple(happened),
        stats=history_stats(events),
    )


def _stamp(value: Any) -> str:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else ""


def _claim_rows(
    s3: Any,
    deployment: Deployment,
    run_id: str,
    summary: dict[str, Any],
    rejects: list[dict[str, str]],
    failures: list[dict[str, str]],
) -> ClaimRows | None:
    """Every claim of the run's claim index but the unchanged ones (counted), shard by shard."""
    import json

    page_count = summary.get("page_count")
    if not isinstance(page_count, int) or page_count < 1:
        return None
    messages = {row.get("claim_id", ""): row.get("salesforce_message", "") for row in failures}
    rows: list[ClaimRow] = []
    unchanged = 0
    for page in range(page_count):
        try:
            body = s3.get_object(Bucket=deployment.bucket, Key=layout.claim_index_key(run_id, page))["Body"]
        except s3.exceptions.NoSuchKey:
            return None
        shard = json.loads(body.read())
        for entries in shard.values():
            for entry in entries:
                if entry.get("outcome") == "unchanged":
                    unchanged += 1
                    continue
                rows.append(_claim_row(entry, messages))
    rows += [_reject_row(r) for r in rejects if not r.get("claim_id")]
    rows.sort(key=lambda r: (OUTCOME_ORDER.get(r.outcome, 9), r.result != "failed", r.row or 0, r.claim))
    return ClaimRows(tuple(rows[:MAX_CLAIM_ROWS]), max(0, len(rows) - MAX_CLAIM_ROWS), unchanged)


def _claim_row(entry: dict[str, Any], messages: dict[str, str]) -> ClaimRow:
    claim = str(entry.get("claim", ""))
    if entry.get("outcome") == "rejected":
        pairs = reject_reasons(entry.get("reasons") or [])
        detail = "; ".join(code if col is None else f"{code} in {col}" for code, col in pairs)
    else:
        detail = messages.get(claim, "") if entry.get("result") == "failed" else ""
    return ClaimRow(
        claim=claim,
        row=entry.get("row"),
        outcome=str(entry.get("outcome", "")),
        result=str(entry.get("result", "")),
        error=str(entry.get("error", "")),
        detail=detail,
        payor=str(entry.get("payor", "")),
    )


def _reject_row(reject: dict[str, str]) -> ClaimRow:
    """A row of rejects.csv (the claim index has no entry for a row without a ClaimID)."""
    pairs = reject_reasons([reject.get("reasons", "")])
    number = reject.get("row_number") or ""
    return ClaimRow(
        claim=reject.get("claim_id") or "(no ClaimID)",
        row=int(number) if number.isdigit() else None,
        outcome="rejected",
        detail="; ".join(code if col is None else f"{code} in {col}" for code, col in pairs),
    )


def _rows_from_reports(rejects: list[dict[str, str]], failures: list[dict[str, str]]) -> ClaimRows:
    rows = [_reject_row(r) for r in rejects]
    rows += [
        ClaimRow(
            claim=f.get("claim_id", ""),
            row=None,
            outcome="sent",
            result="failed",
            error=f.get("error_code", ""),
            detail=f.get("salesforce_message", ""),
        )
        for f in failures
    ]
    return ClaimRows(tuple(rows[:MAX_CLAIM_ROWS]), max(0, len(rows) - MAX_CLAIM_ROWS), 0)


# --------------------------------------------------------------------------------------------------
# Charts (matplotlib, object API: no pyplot, no global figure state)


def _figure(width: float, height: float, rows: int = 1, cols: int = 1, **kwargs: Any) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=True, **kwargs)
    return fig, axes


def _img(fig: Any, alt: str) -> str:
    """The figure as an SVG image in a ``data:`` URI (its own document: no id clashes, no fetch)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="chart" alt="{escape(alt)}" src="data:image/svg+xml;base64,{data}">'


def _hbars(ax: Any, items: Sequence[tuple[str, int]], color: str, title: str) -> None:
    labels = [name for name, _ in items][::-1]
    values = [count for _, count in items][::-1]
    bars = ax.barh(labels, values, color=color)
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3, fontsize=8)
    ax.set_title(title, loc="left", fontsize=10)
    ax.margins(x=0.15)
    ax.spines[["top", "right"]].set_visible(False)


def accounting_chart(summary: dict[str, Any], dry: bool) -> str:
    parts = [
        (
            "would send" if dry else "succeeded",
            _int(summary.get("sent")) - (0 if dry else _int(summary.get("failed"))),
        ),
        ("failed", 0 if dry else _int(summary.get("failed"))),
        ("unchanged", _int(summary.get("unchanged"))),
        ("rejected", _int(summary.get("rejected"))),
    ]
    fig, ax = _figure(9, 1.3)
    left = 0
    total = max(1, sum(v for _, v in parts))
    for name, value in parts:
        if value <= 0:
            continue
        color = COLORS["sent" if name == "would send" else name]
        ax.barh([0], [value], left=left, color=color, label=f"{name} {value:,}")
        if value / total > 0.06:
            ax.text(left + value / 2, 0, f"{value:,}", ha="center", va="center", fontsize=8, color="white")
        left += value
    ax.set_yticks([])
    ax.set_xlim(0, total)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncols=4, frameon=False, fontsize=8)
    ax.spines[["top", "right", "left"]].set_visible(False)
    return _img(fig, "the rows of the report: " + ", ".join(f"{n} {v:,}" for n, v in parts))


def timeline_chart(timeline: Timeline) -> str:
    present = [p for p in PHASES if any(e.phase == p for e in timeline.phases)]
    rows = {phase: i for i, phase in enumerate(reversed(present))}
    fig, ax = _figure(9, 0.45 * max(len(present), 1) + 1.1)
    for ended in timeline.phases:
        start = max(0.0, ended.at_s - ended.elapsed_s)
        width = max(ended.elapsed_s, 0.02 * max(timeline.duration_s or 1.0, 1.0))
        color = {"done": COLORS["done"], "failed": COLORS["failed"]}.get(ended.outcome, COLORS["stopped"])
        ax.barh(rows[ended.phase], width, left=start, color=color, height=0.6)
        ax.text(start + width, rows[ended.phase], f"  {duration(ended.elapsed_s)}", va="center", fontsize=8)
    for event in timeline.events:
        if event.phase in rows:
            marker, color = ("x", COLORS["failed"]) if isinstance(event, Retrying) else ("v", "#495057")
            ax.plot([event.at_s], [rows[event.phase] + 0.42], marker=marker, color=color, markersize=6)
    ax.set_yticks(list(rows.values()), list(rows.keys()))
    ax.set_xlabel("seconds since the run started  (v: a wait, x: a retry)")
    ax.margins(x=0.12)
    ax.spines[["top", "right"]].set_visible(False)
    return _img(
        fig, "timeline of the phases: " + ", ".join(f"{e.phase} {e.elapsed_s:.1f} s" for e in timeline.phases)
    )


def rejects_chart(by_reason: dict[str, int], by_column: dict[str, int]) -> str:
    height = 0.3 * max(len(by_reason), len(by_column), 2) + 0.9
    fig, (left, right) = _figure(9, height, 1, 2)
    _hbars(left, list(by_reason.items())[:15], COLORS["rejected"], "rejected rows by reason")
    _hbars(right, list(by_column.items())[:15], COLORS["rejected"], "rejected rows by column")
    return _img(fig, "rejected rows by reason and by column")


def failures_chart(by_code: dict[str, int]) -> str:
    fig, ax = _figure(9, 0.3 * max(len(by_code), 2) + 0.8)
    _hbars(ax, list(by_code.items())[:15], COLORS["failed"], "claims Salesforce refused, by error code")
    return _img(fig, "Salesforce failures by error code")


def api_chart(used: int, limit: int) -> str:
    fig, ax = _figure(9, 0.9)
    share = used / limit if limit else 0.0
    ax.barh([0], [limit], color="#e9ecef")
    ax.barh([0], [used], color=COLORS["failed"] if share > 0.8 else COLORS["done"])
    ax.text(limit, 0, f"  {used:,} of {limit:,} ({_percent(used, limit)})", va="center", fontsize=8)
    ax.set_yticks([])
    ax.set_xticks([])
    ax.set_xlim(0, limit * 1.3)
    ax.set_title("API requests used in the org's 24-hour allocation", loc="left", fontsize=10)
    ax.spines[["top", "right", "left", "bottom"]].set_visible(False)
    return _img(fig, f"Salesforce API requests used: {used} of {limit}")


def recent_chart(recent: Sequence[RunRecord], current: str) -> str:
    runs = list(reversed(recent))  # oldest first, left to right
    x = list(range(len(runs)))
    fig, (counts, took) = _figure(9, 4.2, 2, 1, sharex=True, height_ratios=[2, 1])
    for name in ("sent", "unchanged", "rejected", "failed"):
        values = [_float(r.summary.get(name)) for r in runs]
        counts.plot(x, values, marker="o", markersize=3, color=COLORS[name], label=name)
    counts.set_yscale("symlog", linthresh=1)
    counts.set_ylabel("claims")
    counts.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=4, frameon=False, fontsize=8)
    durations = [r.duration_s or 0.0 for r in runs]
    colors = [COLORS["failed"] if r.status == "FAILED" else COLORS["duration"] for r in runs]
    took.bar(x, durations, color=colors)
    took.set_ylabel("duration (s)")
    for ax in (counts, took):
        ax.spines[["top", "right"]].set_visible(False)
        if current in [r.run_id for r in runs]:
            ax.axvspan(
                [r.run_id for r in runs].index(current) - 0.45,
                [r.run_id for r in runs].index(current) + 0.45,
                color="#fff3bf",
                zorder=0,
            )
    took.set_xticks(x, [_short_time(r.started_at) for r in runs], rotation=60, ha="right", fontsize=7)
    return _img(fig, f"the last {len(runs)} runs: sent, unchanged, rejected, failed and duration")


def _percent(used: int, limit: int) -> str:
    share = 100 * used / limit
    return "under 0.1 %" if 0 < share < 0.1 else f"{share:.1f} %"


def _short_time(text: str) -> str:
    moment = parse_time(text)
    return moment.astimezone(UTC).strftime("%m-%d %H:%M") if moment else "?"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else float("nan")


# --------------------------------------------------------------------------------------------------
# HTML

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:#212529;max-width:980px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dee2e6}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;border-bottom:1px solid #f1f3f5;
text-align:left;vertical-align:top}th{background:#f8f9fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.status{display:inline-block;padding:1px 8px;border-radius:4px;color:#fff;background:#495057;font-weight:600}
.SUCCEEDED{background:#2f9e44}.PARTIAL{background:#f08c00}.FAILED{background:#e03131}
.DRY_RUN{background:#1c7ed6}.RUNNING{background:#7048e8}
.eq{font:15px/1.8 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}.ok{color:#2f9e44}.bad{color:#e03131}
.phi{background:#ffe3e3;border:2px solid #e03131;padding:10px 14px;font-weight:600;margin-bottom:16px}
.note{color:#868e96}img.chart{max-width:100%;display:block;margin:6px 0}
.muted{color:#868e96}code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
"""
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def render(page: RunPage) -> str:
    """The page as one HTML document (charts need matplotlib)."""
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "claimsync", "svg.fonttype": "path", "font.size": 9}):
        body = "\n".join(_sections(page))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>claimsync run {escape(page.run_id)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )


def _sections(page: RunPage) -> Iterator[str]:
    s = page.summary
    dry = bool(s.get("dry_run")) or page.status == "DRY_RUN"
    if page.claims is not None:
        yield (
            '<div class="phi">This page holds PHI: claim ids and claim-level rows of the run. Store it as '
            "you store the claims themselves; never attach it to a ticket or an email.</div>"
        )
    yield f"<h1>Run <code>{escape(page.run_id)}</code></h1>"
    yield f'<p><span class="status {escape(page.status)}">{escape(page.status)}</span> {escape(_how(s, dry))}</p>'
    yield from _facts(page)
    for note in page.notes:
        yield f'<p class="note">{escape(note)}</p>'

    yield "<h2>Accounting</h2>"
    if "rows_in" in s:
        yield from _accounting(s, dry)
    else:
        yield '<p class="note">No counts: the run did not get as far as its summary.</p>'

    yield "<h2>Timeline</h2>"
    yield from _timeline_section(page.timeline)

    yield "<h2>Rejected rows</h2>"
    if page.rejects_by_reason:
        yield rejects_chart(page.rejects_by_reason, page.rejects_by_column)
        yield _table(["reason", "rows"], list(page.rejects_by_reason.items()))
        if page.rejects_by_column:
            yield _table(["column", "rows"], list(page.rejects_by_column.items()))
        yield '<p class="note">A row counts once per reason and once per column. Row by row: rejects.csv.</p>'
    else:
        yield "<p>None.</p>"

    yield "<h2>Unmapped payers</h2>"
    payers = s.get("unmapped_payers") or []
    if payers:
        rows = [[p.get("payer_id"), p.get("payer_name"), p.get("claims")] for p in payers]
        yield _table(["payer id", "payer name", "claims"], rows)
        yield (
            '<p class="note">These claims were sent without a payor (Payor_Mapping_Status__c = Unmapped). '
            "Add a Payor_Mapping__c for each payer (docs/runbook.md, 2.3).</p>"
        )
    elif s.get("unmapped_payer_count"):
        yield f"<p>{int(s['unmapped_payer_count']):,} unmapped payers (listed in summary.json).</p>"
    else:
        yield "<p>None.</p>"

    yield "<h2>Salesforce failures</h2>"
    if page.failures_by_code:
        yield failures_chart(page.failures_by_code)
        yield _table(["Salesforce error", "claims"], list(page.failures_by_code.items()))
        yield '<p class="note">The next run sends these claims again. Claim by claim: failures.csv.</p>'
    else:
        yield "<p>None.</p>" if not dry else "<p>None: a dry run writes nothing.</p>"

    yield "<h2>Salesforce API and Step Functions use</h2>"
    yield from _usage(page)

    yield f"<h2>The last {len(page.recent)} runs</h2>"
    if page.recent:
        yield recent_chart(page.recent, page.run_id)
        yield _recent_table(page.recent, page.run_id)
    else:
        yield "<p>No runs recorded.</p>"

    if page.claims is not None:
        yield from _claims_section(page.claims)
    yield (
        f'<p class="muted">Written by <code>claimsync report</code> on {escape(page.generated_at)} from '
        f"{escape(page.where)}. This file loads nothing from anywhere.</p>"
    )


def _how(summary: dict[str, Any], dry: bool) -> str:
    if not summary:
        return ""
    return (
        "dry run — nothing was written to Salesforce"
        if dry
        else ("full sync" if summary.get("full_sync") else "incremental")
    )


def _facts(page: RunPage) -> Iterator[str]:
    record, timeline, s = page.record, page.timeline, page.summary
    started = (record.started_at if record else "") or (timeline.started_at if timeline else "")
    finished = (record.finished_at if record else "") or (timeline.stopped_at if timeline else "")
    took = (
        record.duration_s
        if record and record.duration_s is not None
        else (timeline.duration_s if timeline else None)
    )
    rows: list[list[Any]] = [
        ["started (UTC)", clock(started)],
        ["finished (UTC)", clock(finished)],
        ["duration", duration(took)],
        ["where", page.where],
    ]
    if s.get("page_count"):
        rows.append(["pages", s["page_count"]])
    if s.get("upload_mode"):
        rows.append(["upload", s["upload_mode"]])
    if record is not None and record.status == "FAILED":
        rows.append(["failed in", record.failed_state or "-"])
        rows.append(["why", error_text(record.error or None, record.cause or None)])
    yield _table(None, rows)


def _accounting(s: dict[str, Any], dry: bool) -> Iterator[str]:
    rows_in, sent, unchanged, rejected = (
        _int(s.get(k)) for k in ("rows_in", "sent", "unchanged", "rejected")
    )
    succeeded, failed = _int(s.get("succeeded")), _int(s.get("failed"))
    verb = "would send" if dry else "sent"
    lines = [
        _equation(
            f"rows in {rows_in:,}", [(verb, sent), ("unchanged", unchanged), ("rejected", rejected)], rows_in
        )
    ]
    if not dry:
        lines.append(_equation(f"sent {sent:,}", [("succeeded", succeeded), ("failed", failed)], sent))
    yield '<div class="eq">' + "<br>".join(lines) + "</div>"
    if isinstance(s.get("new"), int) and isinstance(s.get("changed"), int):
        yield f'<p class="note">{verb}: {s["new"]:,} new and {s["changed"]:,} changed claims.</p>'
    yield accounting_chart(s, dry)


def _equation(left: str, parts: list[tuple[str, int]], total: int) -> str:
    holds = total == sum(v for _, v in parts)
    mark = '<span class="ok">✓ holds</span>' if holds else '<span class="bad">✗ does not hold</span>'
    right = " + ".join(f"{name} {value:,}" for name, value in parts)
    return f"{escape(left)} = {escape(right)} &nbsp; {mark}"


def _timeline_section(timeline: Timeline | None) -> Iterator[str]:
    if timeline is None:
        yield '<p class="note">Not available: the execution history has expired or cannot be read.</p>'
        return
    if timeline.phases:
        yield timeline_chart(timeline)
    rows = [
        [e.phase, e.outcome, f"{max(0.0, e.at_s - e.elapsed_s):.1f} s", duration(e.elapsed_s), e.detail]
        for e in timeline.phases
    ]
    yield _table(["phase", "outcome", "started at", "took", "detail"], rows)
    if timeline.execution_status == "RUNNING":
        yield '<p class="note">The run is still going: phases not yet ended are not shown.</p>'
    if timeline.events:
        yield "<p>Waits and retries, as they happened:</p>"
        yield _table(["at", "phase", "what"], [[f"{e.at_s:.1f} s", e.phase, e.text] for e in timeline.events])


def _usage(page: RunPage) -> Iterator[str]:
    usage = page.summary.get("salesforce_api_usage") or {}
    used, limit = usage.get("used"), usage.get("max")
    if isinstance(used, int) and isinstance(limit, int) and limit > 0:
        yield api_chart(used, limit)
        yield (
            f"<p>After the upload, the org had used {used:,} of its {limit:,} daily API requests "
            f"({_percent(used, limit)}, from Salesforce's Sforce-Limit-Info header).</p>"
        )
    else:
        yield '<p class="note">Salesforce reported no API usage for this run (it sent nothing).</p>'
    if page.timeline is not None:
        stats = page.timeline.stats
        yield _table(
            None,
            [
                ["state transitions (billed by Step Functions)", stats.get("state_transitions")],
                ["task retries", stats.get("retries")],
                ["history events", stats.get("history_events")],
            ],
        )


def _recent_table(recent: Sequence[RunRecord], current: str) -> str:
    rows = []
    for r in recent:
        s = r.summary
        name = f"{r.run_id} ◀" if r.run_id == current else r.run_id
        rows.append(
            [
                name,
                r.status,
                clock(r.started_at),
                duration(r.duration_s),
                s.get("rows_in"),
                s.get("sent"),
                s.get("unchanged"),
                s.get("rejected"),
                None if s.get("dry_run") else s.get("failed"),
            ]
        )
    header = [
        "run",
        "status",
        "started (UTC)",
        "duration",
        "rows in",
        "sent",
        "unchanged",
        "rejected",
        "failed",
    ]
    return _table(header, rows)


def _claims_section(claims: ClaimRows) -> Iterator[str]:
    yield "<h2>Claims (PHI)</h2>"
    yield (
        f"<p>Every claim the run rejected or sent, with Salesforce's answer. {claims.unchanged:,} unchanged "
        "claims are not listed.</p>"
    )
    rows = [
        [c.claim, c.row, c.outcome, c.result or "-", c.error or "-", c.payor or "-", c.detail]
        for c in claims.rows
    ]
    yield _table(["claim", "row", "outcome", "result", "Salesforce error", "payor", "detail"], rows)
    if claims.not_listed:
        yield f'<p class="note">… and {claims.not_listed:,} more (the run\'s claim index has them all).</p>'


def _table(header: Sequence[str] | None, rows: Sequence[Sequence[Any]]) -> str:
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, int | float) and not isinstance(value, bool):
                cells.append(f'<td class="n">{value:,}</td>')
            else:
                cells.append(f"<td>{escape('-' if value is None else str(value))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


# --------------------------------------------------------------------------------------------------
# Writing


def write_run_page(
    client: Callable[[str], Any],
    deployment: Deployment,
    run_id: str,
    path: Path,
    *,
    with_claims: bool = False,
    where: str = "",
) -> RunPage:
    """Gather, render and write the page; a page with claims is created readable by its owner only."""
    page = gather(client, deployment, run_id, with_claims=with_claims, where=where)
    html = render(page)
    mode = 0o600 if with_claims else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    if with_claims:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode on O_CREAT: narrow it
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(html)
    return page
