"""StartReport and CheckReport: run the CollaborateMD report, poll it, stage its rows as pages.

Pages are hash buckets of the claim id (``claimsync.staging``), so every row of one claim lands in
one page and the Map can transform pages independently. A report an earlier run left running is
adopted (``claimsync.report_registry``).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

from claimsync import layout
from claimsync.collaboratemd import CmdReportBusy, CmdReportFailed
from claimsync.errors import ClaimsyncError
from claimsync.report import ReportFormatError, SourceRow, iter_report_rows
from claimsync.report_registry import ReportRequest as RecordedRequest
from claimsync.staging import MISSING_KEY_PAGE, claim_bucket, page_count_for
from claimsync.steps.deps import Deps
from claimsync.steps.polling import Poll
from claimsync.steps.run import Run
from claimsync.steps.staged import StagedPage
from claimsync.transform import external_id_key

RECORD_TTL_S = 86_400


class ReportDeadlineExceeded(ClaimsyncError):
    """The report did not finish before the run's deadline."""


class ReportDownloadCorrupt(ClaimsyncError):
    """The report's ZIP did not decompress: a damaged download, fetched again by the state machine."""

    transient = True


@dataclass(frozen=True)
class RunTask:
    run: Run


@dataclass(frozen=True)
class ReportRequest:
    """A report being polled: ``$.request`` while ``state`` is RUNNING."""

    request_id: str
    poll_seconds: int
    deadline: int
    adopted_from: str = ""
    state: str = "RUNNING"


@dataclass(frozen=True)
class ReportTask:
    run: Run
    request: ReportRequest


@dataclass(frozen=True)
class ReportStaged:
    """The report's rows staged as pages: ``$.sources.report``."""

    rows_in: int
    page_count: int
    pages: tuple[int, ...]
    state: str = "READY"


def start_report(deps: Deps, task: RunTask) -> ReportRequest:
    """Start the report, or adopt the one an earlier run left running (see ``report_registry``)."""
    settings, now = deps.settings, deps.now
    adopted_from = ""
    try:
        recorded = RecordedRequest(deps.collaboratemd.start_report(), task.run.run_id, int(now))
    except CmdReportBusy:
        left = deps.reports.recorded()
        if left is None or now - left.started_at >= settings.report_deadline_seconds:
            raise  # someone else's report: the state machine retries the start later
        recorded, adopted_from = left, left.run_id
    deps.reports.record(recorded, expires_at=recorded.started_at + RECORD_TTL_S)
    poll = Poll.start(now, settings.report_poll_seconds, settings.report_deadline_seconds)
    return ReportRequest(recorded.request_id, poll.poll_seconds, poll.deadline, adopted_from)


def check_report(deps: Deps, task: ReportTask) -> ReportRequest | ReportStaged:
    """Poll the report once. While it runs: the next wait. When ready: stage its rows as pages.

    The report's ZIP goes to a spool file in the function's ephemeral storage as it downloads, and
    its rows from there into bucket files, then pages: no step holds the report (``stage_report``)."""
    request = task.request
    with tempfile.TemporaryFile(prefix="report-") as spool:
        try:
            result = deps.collaboratemd.poll_results(request.request_id, spool)
        except CmdReportFailed:
            deps.reports.forget(request.request_id)  # final for that request: CollaborateMD is free again
            raise
        if result.state == "RUNNING":
            poll = Poll(request.poll_seconds, request.deadline)
            if poll.overdue(deps.now):
                raise ReportDeadlineExceeded("the report was still running at the deadline")
            later = poll.backed_off(deps.settings.report_poll_max_seconds)
            return ReportRequest(request.request_id, later.poll_seconds, later.deadline, request.adopted_from)
        spool.seek(0)
        try:
            staged = stage_report(deps, iter_report_rows(spool), task.run.run_id)
        except ReportFormatError as exc:
            if exc.damaged:
                raise ReportDownloadCorrupt(str(exc)) from None  # the state machine fetches it again
            deps.reports.forget(request.request_id)
            raise
    deps.reports.forget(request.request_id)
    return staged


def stage_report(deps: Deps, rows: Iterable[SourceRow], run_id: str) -> ReportStaged:
    """Rows → ``max_pages`` bucket files (by claim id hash) while counting them → the pages.

    The page count depends on the row count, known only at the end; buckets are the finest pages
    (``max_pages`` is a power of two), so page ``q`` of ``P`` is the union of the buckets ``b`` with
    ``b % P == q`` — the same claim always lands in the same page (``claimsync.staging``)."""
    settings, mapping = deps.settings, deps.mapping
    buckets = settings.max_pages
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(tempfile.TemporaryFile(prefix="bucket-")) for _ in range(buckets)]
        count = 0
        for count, row in enumerate(rows, start=1):
            key = mapping.source_value(row.values, mapping.key_index).strip()
            bucket = claim_bucket(external_id_key(key), buckets) if key else MISSING_KEY_PAGE
            files[bucket].write(StagedPage.line(count, row))
        page_count = page_count_for(count, settings.page_size, settings.max_pages)
        for page in range(page_count):
            body = bytearray()
            for bucket in range(page, buckets, page_count):
                files[bucket].seek(0)
                body += files[bucket].read()
            deps.staging.put_bytes(layout.page_key(run_id, page), bytes(body), "application/x-ndjson")
    return ReportStaged(count, page_count, tuple(range(page_count)))
