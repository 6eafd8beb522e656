"""StartUpload and CheckUpload: send the staged claims to Salesforce and follow them until they land.

Small deltas (≤ ``collections_max_rows``) go through sObject Collections (synchronous, 200 per call);
larger ones through one Bulk API 2.0 job per ≤ 100 MB of CSV. The state machine polls the Bulk jobs
(Wait → CheckUpload): every check polls all open jobs of the run at once and says when to look again
from their measured progress. When they are done it reads their failed and unprocessed rows and
resubmits those that failed for a transient reason (``UNABLE_TO_LOCK_ROW``...) up to
``transient_retry_rounds`` times; the rest are failures with Salesforce's error code.

What the polls need between invocations (job ids, progress, failures by claim) is the typed
:class:`UploadState` in S3; the state machine carries only :class:`UploadProgress` (counts).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from claimsync import layout
from claimsync.bulk_csv import bulk_documents
from claimsync.errors import ClaimsyncError
from claimsync.salesforce.errors import TRANSIENT_RECORD_ERRORS
from claimsync.salesforce.gateway import COLLECTION_LIMIT, BulkResultKind, SalesforceGateway
from claimsync.sobject_json import SObjectEncoder
from claimsync.staging import claim_bucket
from claimsync.steps.contract import from_payload, to_payload
from claimsync.steps.deps import Deps
from claimsync.steps.polling import Poll, wait_for_progress
from claimsync.steps.run import Run
from claimsync.steps.staged import StagedClaim, sent_by_page, staged_claims
from claimsync.transform import external_id_key

FINAL_JOB_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
NONE, DRY_RUN, COLLECTIONS, BULK = "NONE", "DRY_RUN", "COLLECTIONS", "BULK"


class UploadDeadlineExceeded(ClaimsyncError):
    """Salesforce did not finish the Bulk job(s) before the run's deadline."""


class BulkJobRejected(ClaimsyncError):
    """Salesforce failed a Bulk job as a whole for a reason retrying cannot fix (e.g. unknown field)."""


class AccountingError(ClaimsyncError):
    """The counts of a run do not add up: a claim would be lost. Never expected; fails the run."""


@dataclass(frozen=True)
class UploadTask:
    run: Run
    page_count: int


@dataclass(frozen=True)
class UploadProgress:
    """``$.upload``: whether to poll again, and when."""

    pending: bool
    mode: str
    sent: int
    jobs: int = 0
    round: int = 1
    poll_seconds: int = 0
    deadline: int = 0


@dataclass(frozen=True)
class UploadCheckTask:
    run: Run
    upload: UploadProgress


@dataclass
class BulkJob:
    """One Bulk job of the run, as last polled. A job seen final is never polled again."""

    id: str
    records: int
    processed: int = 0
    polled_at: float = 0.0
    submitted_at: float = 0.0
    state: str = "UploadComplete"
    failed: int = 0
    error: str = ""

    @property
    def done(self) -> bool:
        return self.state in FINAL_JOB_STATES


@dataclass(frozen=True)
class Failure:
    code: str
    message: str = ""


@dataclass
class UploadState:
    mode: str
    page_count: int = 1
    round: int = 1
    sent: int = 0
    succeeded: int = 0
    jobs: list[BulkJob] = field(default_factory=list)
    failures: dict[str, Failure] = field(default_factory=dict)
    """Claim number → why it did not land."""
    api_used: int | None = None
    api_max: int | None = None


def load_state(deps: Deps, run_id: str) -> UploadState:
    return from_payload(UploadState, deps.staging.get_json(layout.upload_state_key(run_id)))


def _save(deps: Deps, run_id: str, state: UploadState, gw: SalesforceGateway | None = None) -> None:
    if gw is not None:
        state.api_used, state.api_max = gw.stats.api_used, gw.stats.api_max
    deps.staging.put_json(layout.upload_state_key(run_id), to_payload(state))


# -- StartUpload -----------------------------------------------------------------------------------


def start_upload(deps: Deps, task: UploadTask) -> UploadProgress:
    run = task.run
    to_send = sent_by_page(deps, run.run_id, task.page_count)
    sent = sum(to_send.values())
    state = UploadState(NONE, page_count=task.page_count, sent=sent)
    if run.dry_run or sent == 0:
        state.mode = DRY_RUN if run.dry_run else NONE
        _save(deps, run.run_id, state)
        return UploadProgress(False, state.mode, sent)

    gw = deps.salesforce
    pages = [page for page, count in to_send.items() if count]
    claims = _counted(staged_claims(deps, run.run_id, pages, task.page_count), sent)
    if sent <= deps.settings.collections_max_rows:
        state.mode = COLLECTIONS
        _send_collections(deps, gw, run.run_id, state, list(claims), deps.settings.transient_retry_rounds)
        _save(deps, run.run_id, state, gw)
        return UploadProgress(False, COLLECTIONS, sent)

    state.mode = BULK
    state.jobs = _submit_bulk(deps, gw, claims)
    poll = Poll.start(deps.now, _first_wait(deps, state.jobs), deps.settings.upload_deadline_seconds)
    _save(deps, run.run_id, state, gw)
    return UploadProgress(True, BULK, sent, len(state.jobs), 1, poll.poll_seconds, poll.deadline)


def _counted(claims: Iterator[StagedClaim], expected: int) -> Iterator[StagedClaim]:
    count = 0
    for claim in claims:
        count += 1
        yield claim
    if count != expected:
        raise AccountingError("the staged claims are not the ones the pages counted")


def _first_wait(deps: Deps, jobs: list[BulkJob]) -> int:
    """When the last job should be done: Salesforce works on a run's jobs in parallel, each from its
    close (while the next ones are built and sent: a run of a million claims spends half a minute
    sending three jobs), at the assumed rate. Between ``upload_poll_seconds`` and the cap."""
    s = deps.settings
    left = [
        wait_for_progress(
            job.records,
            None,
            floor_s=0,
            cap_s=s.upload_poll_max_seconds,
            assumed_rate_per_s=s.bulk_records_per_second,
        )
        - int(deps.now - job.submitted_at)
        for job in jobs
    ]
    return max(s.upload_poll_seconds, *left)


def _send_collections(
    deps: Deps, gw: SalesforceGateway, run_id: str, state: UploadState, claims: list[StagedClaim], rounds: int
) -> None:
    encoder = SObjectEncoder(deps.mapping, run_id)
    mapping = deps.mapping
    pending = claims
    for attempt in range(rounds + 1):
        retry: list[StagedClaim] = []
        for start in range(0, len(pending), COLLECTION_LIMIT):
            chunk = pending[start : start + COLLECTION_LIMIT]
            results = gw.collections_upsert(
                mapping.object_name, mapping.external_id_field, [encoder.encode(c) for c in chunk]
            )
            for claim, result in zip(chunk, results, strict=True):
                code = result.error_code or "UNKNOWN_ERROR"
                if result.success:
                    state.succeeded += 1
                    state.failures.pop(claim.claim_number, None)
                elif code in TRANSIENT_RECORD_ERRORS and attempt < rounds:
                    retry.append(claim)
                else:
                    state.failures[claim.claim_number] = Failure(code, result.error_detail)
        if not retry:
            return
        pending = retry


def _submit_bulk(deps: Deps, gw: SalesforceGateway, claims: Iterable[StagedClaim]) -> list[BulkJob]:
    mapping, jobs = deps.mapping, []
    # staged_claims proved the ids unique (page_claims), so the documents need not remember them
    for document, records in bulk_documents(claims, mapping, ids_checked=True):
        job_id = gw.bulk_create_job(mapping.object_name, mapping.external_id_field)
        try:
            gw.bulk_upload(job_id, document)
            gw.bulk_close(job_id)
        except Exception:
            with contextlib.suppress(Exception):  # best effort: never leave an Open job behind
                gw.bulk_abort(job_id)
            raise
        closed = deps.now
        jobs.append(BulkJob(job_id, records, polled_at=closed, submitted_at=closed))
    return jobs


# -- CheckUpload -----------------------------------------------------------------------------------


def check_upload(deps: Deps, task: UploadCheckTask) -> UploadProgress:
    run, progress = task.run, task.upload
    gw = deps.salesforce
    state = load_state(deps, run.run_id)
    wait = _poll_open_jobs(deps, gw, state.jobs)
    if not all(job.done for job in state.jobs):
        if Poll(progress.poll_seconds, progress.deadline).overdue(deps.now):
            raise UploadDeadlineExceeded("Salesforce had not finished the Bulk job(s) at the deadline")
        _save(deps, run.run_id, state, gw)
        return replace(progress, pending=True, poll_seconds=wait)

    retry = _collect_results(deps, gw, state)
    if retry:
        claims = _claims_by_number(deps, run.run_id, state.page_count, retry)
        if len(claims) <= deps.settings.collections_max_rows:
            rounds = deps.settings.transient_retry_rounds - state.round + 1
            _send_collections(deps, gw, run.run_id, state, claims, rounds)
        else:
            state.round += 1
            state.jobs = _submit_bulk(deps, gw, claims)
            _save(deps, run.run_id, state, gw)
            first = _first_wait(deps, state.jobs)
            return replace(
                progress, pending=True, round=state.round, jobs=len(state.jobs), poll_seconds=first
            )
    state.jobs = []
    _save(deps, run.run_id, state, gw)
    return replace(progress, pending=False)


def _poll_open_jobs(deps: Deps, gw: SalesforceGateway, jobs: list[BulkJob]) -> int:
    """One call per job not yet seen final; returns when to look again: the time the remaining records
    should take at the jobs' combined rate since the last poll (Salesforce works on a run's jobs in
    parallel), but never longer than the open jobs have run so far. A rate measured while Salesforce
    was still queueing or checking a job is far too low; the guard makes such a misjudgement cost at
    most one more poll per doubling of the job's time instead of a wait as long as the cap."""
    now = started = deps.now
    remaining, rate = 0, 0.0
    for job in jobs:
        if job.done:
            continue
        info = gw.bulk_job(job.id)
        processed = int(str(info.get("numberRecordsProcessed") or 0))
        if now > job.polled_at and processed > job.processed:
            rate += (processed - job.processed) / (now - job.polled_at)
        job.state, job.processed, job.polled_at = str(info["state"]), processed, now
        job.failed = int(str(info.get("numberRecordsFailed") or 0))
        job.error = str(info.get("errorMessage") or "")
        if not job.done:
            remaining += max(job.records - processed, 0)
            started = min(started, job.submitted_at or now)
    s = deps.settings
    estimate = wait_for_progress(
        remaining,
        rate or None,
        floor_s=s.upload_poll_seconds,
        cap_s=s.upload_poll_max_seconds,
        assumed_rate_per_s=s.bulk_records_per_second,
    )
    return min(estimate, max(s.upload_poll_seconds, math.ceil(now - started)))


def _collect_results(deps: Deps, gw: SalesforceGateway, state: UploadState) -> list[str]:
    """Failures recorded in ``state``; the claim numbers to resubmit returned."""
    key = deps.mapping.external_id_field
    can_retry = state.round <= deps.settings.transient_retry_rounds
    retry: list[str] = []
    for job in state.jobs:
        if job.state == "Failed" and _is_input_error(job.error):
            raise BulkJobRejected(
                "Salesforce rejected the Bulk job's data as a whole (see the job in Salesforce)"
            )
        # A result file the job's own counts say is empty is not downloaded: a clean job costs two
        # calls fewer. (The accounting check in FinishRun catches counts that would disagree.)
        failed_rows = _result_rows(gw, job.id, "failedResults") if job.failed else iter(())
        for result in failed_rows:
            code, _, message = result.get("sf__Error", "").partition(":")
            if code in TRANSIENT_RECORD_ERRORS and can_retry:
                retry.append(result[key])
            else:
                state.failures[result[key]] = Failure(code or "UNKNOWN_ERROR", message)
        complete = job.state == "JobComplete" and job.processed >= job.records
        unprocessed_rows = iter(()) if complete else _result_rows(gw, job.id, "unprocessedrecords")
        for result in unprocessed_rows:
            if can_retry:
                retry.append(result[key])
            else:
                state.failures[result[key]] = Failure("NOT_PROCESSED", f"Bulk job ended {job.state}")
        state.succeeded += max(job.processed - job.failed, 0)
    return retry


def _claims_by_number(deps: Deps, run_id: str, page_count: int, numbers: list[str]) -> list[StagedClaim]:
    """The staged claims of ``numbers``, read from the pages that hold them, in Bulk order."""
    wanted = {external_id_key(n) for n in numbers}
    pages = sorted({claim_bucket(key, page_count) for key in wanted})
    found = [
        c for c in staged_claims(deps, run_id, pages, page_count) if external_id_key(c.claim_number) in wanted
    ]
    if len(found) != len(wanted):
        raise AccountingError("Salesforce reported rows the run did not send")
    return found


def _is_input_error(message: str) -> bool:
    return message.startswith(("InvalidBatch", "ClientInputError", "InvalidJob"))


def _result_rows(gw: SalesforceGateway, job_id: str, kind: BulkResultKind) -> Iterator[dict[str, str]]:
    """A job's result rows, downloaded to a spool file and read from it one by one."""
    with tempfile.TemporaryFile(prefix="results-") as spool:
        gw.bulk_results(job_id, kind, spool)
        spool.seek(0)
        yield from csv.DictReader(io.TextIOWrapper(spool, encoding="utf-8-sig", newline=""))
