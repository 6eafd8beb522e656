"""The steps of one claim-sync run, as plain functions over injected clients.

Each Lambda handler of the state machine calls exactly one function here. Between steps only S3
keys and counts travel (the state machine payload); rows, CSV and results live in the staging
bucket (``claimsync.layout`` names every key). Nothing here logs or raises with a claim value.

Accounting, kept for every run and checked in ``finish_run``:
``rows_in = sent + unchanged + rejected`` and ``sent = succeeded + failed`` (for a dry run, ``sent``
is what would have been sent and nothing is written to Salesforce).
"""

from __future__ import annotations

import contextlib
import csv
import heapq
import io
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from claimsync import layout
from claimsync.bulk_csv import MAX_JOB_BYTES, DuplicateExternalIdError, header, sort_for_bulk, write_bulk_csv
from claimsync.collaboratemd import CollaborateMDClient
from claimsync.config import SyncSettings
from claimsync.mapping import ClaimMapping, Kind
from claimsync.report import ReportFormatError, iter_report_rows
from claimsync.salesforce import COLLECTION_LIMIT, TRANSIENT_RECORD_ERRORS, SalesforceGateway
from claimsync.staging import MISSING_KEY_PAGE, Staging, claim_bucket, page_count_for, previous_shards
from claimsync.transform import PayorIndex, claim_keys, external_id_key, find_superseded, transform_page

PAYOR_SOQL = "SELECT CMD_Payer_Id__c, CMD_Payer_Name__c, Claim_Payor__c, Active__c FROM Payor_Mapping__c"


class ReportDeadlineExceeded(Exception):
    """The report did not finish before the run's deadline."""


class UploadDeadlineExceeded(Exception):
    """Salesforce did not finish the Bulk job(s) before the run's deadline."""


class BulkJobRejected(Exception):
    """Salesforce failed a Bulk job as a whole for a reason retrying cannot fix (e.g. unknown field)."""


class AccountingError(Exception):
    """The counts of a run do not add up: a claim would be lost. Never expected; fails the run."""


@dataclass(frozen=True)
class Run:
    run_id: str
    full_sync: bool = False
    dry_run: bool = False

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Run:
        return cls(str(payload["run_id"]), bool(payload.get("full_sync")), bool(payload.get("dry_run")))


@dataclass(frozen=True)
class Checkpoint:
    """The last finished run: where its snapshot is and how many shards it has."""

    snapshot_prefix: str
    shard_count: int
    last_run_id: str = ""

    @classmethod
    def from_item(cls, raw: Mapping[str, Any] | None) -> Checkpoint | None:
        """From a DynamoDB ``GetItem`` result (``{"Item": {...}}`` or ``{}``)."""
        item = (raw or {}).get("Item")
        if not item:
            return None
        return cls(
            snapshot_prefix=item["snapshot_prefix"]["S"],
            shard_count=int(item["shard_count"]["N"]),
            last_run_id=item.get("last_run_id", {}).get("S", ""),
        )


# --------------------------------------------------------------------------------------------------
# Report


def start_report(cmd: CollaborateMDClient, settings: SyncSettings, now: float) -> dict[str, Any]:
    request_id = cmd.start_report()
    return {
        "request_id": request_id,
        "deadline": int(now) + settings.report_deadline_seconds,
        "poll_seconds": settings.report_poll_seconds,
    }


def check_report(
    cmd: CollaborateMDClient,
    staging: Staging,
    settings: SyncSettings,
    mapping: ClaimMapping,
    run: Run,
    request: Mapping[str, Any],
    now: float,
) -> dict[str, Any]:
    """Poll the report once. While it runs: the next wait. When ready: stage its rows as pages."""
    poll = cmd.poll_results(str(request["request_id"]))
    if poll.state == "RUNNING":
        if now >= request["deadline"]:
            raise ReportDeadlineExceeded("the report was still running at the deadline")
        return {
            **request,
            "state": "RUNNING",
            "poll_seconds": min(int(request["poll_seconds"]) * 2, settings.report_poll_max_seconds),
        }
    assert poll.data is not None
    staged = stage_report(iter_report_rows(poll.data), staging, settings, mapping, run.run_id)
    return {"state": "READY", **staged}


def stage_report(
    rows: Iterable[dict[str, str]],
    staging: Staging,
    settings: SyncSettings,
    mapping: ClaimMapping,
    run_id: str,
) -> dict[str, Any]:
    numbered = list(enumerate(rows, start=1))
    if numbered:
        missing = mapping.missing_columns(numbered[0][1])
        if missing:
            raise ReportFormatError(f"the report lacks mapped columns {missing}: check the saved report")
    page_count = page_count_for(len(numbered), settings.page_size, settings.max_pages)
    pages: list[list[tuple[int, dict[str, str]]]] = [[] for _ in range(page_count)]
    for (row_number, row), (_, raw_key) in zip(numbered, claim_keys(numbered, mapping), strict=True):
        key = raw_key.strip()
        pages[claim_bucket(external_id_key(key), page_count) if key else MISSING_KEY_PAGE].append(
            (row_number, row)
        )
    for page, page_rows in enumerate(pages):
        staging.put_json(layout.page_key(run_id, page), {"rows": page_rows})
    return {"rows_in": len(numbered), "page_count": page_count, "pages": list(range(page_count))}


# --------------------------------------------------------------------------------------------------
# Payor mappings


def load_payors(gw: SalesforceGateway, staging: Staging, run_id: str) -> dict[str, Any]:
    records = list(gw.query_all(PAYOR_SOQL))
    staging.put_json(layout.payors_key(run_id), records)
    return {"payor_mappings": len(records)}


# --------------------------------------------------------------------------------------------------
# Transform one page


def _load_previous(
    staging: Staging, checkpoint: Checkpoint | None, page: int, page_count: int
) -> dict[str, str]:
    if checkpoint is None:
        return {}
    previous: dict[str, str] = {}
    for shard in previous_shards(page, page_count, checkpoint.shard_count):
        key = layout.snapshot_shard_key(checkpoint.snapshot_prefix, shard)
        shard_entries = staging.get_json_optional(key)  # None: the snapshot expired; all is new
        if shard_entries:
            previous.update(shard_entries)
    return previous


def transform_one_page(
    staging: Staging,
    mapping: ClaimMapping,
    run: Run,
    page: int,
    page_count: int,
    checkpoint: Checkpoint | None,
) -> dict[str, Any]:
    rows = [(int(n), row) for n, row in staging.get_json(layout.page_key(run.run_id, page))["rows"]]
    superseded = find_superseded(claim_keys(rows, mapping), mapping.key_rule.length or 50)
    payors = PayorIndex.from_records(staging.get_json(layout.payors_key(run.run_id)))
    result = transform_page(rows, superseded, mapping, payors)

    previous = {} if run.full_sync else _load_previous(staging, checkpoint, page, page_count)
    send = [r for r in result.records if previous.get(r.claim_number) != r.content_hash]
    new = sum(1 for r in send if r.claim_number not in previous)
    if send:
        buf = io.BytesIO()
        write_bulk_csv(sort_for_bulk(send), mapping, run.run_id, buf)
        staging.put_bytes(layout.send_part_key(run.run_id, page), buf.getvalue(), "text/csv")

    stats = {
        "page": page,
        "rows": len(rows),
        "valid": len(result.records),
        "send": len(send),
        "new": new,
        "changed": len(send) - new,
        "unchanged": len(result.records) - len(send),
        "rejected": len(result.rejected),
        "rejects": [
            [rej.row_number, rej.claim_id, [[reason.code, reason.column] for reason in rej.reasons]]
            for rej in result.rejected
        ],
        "unmapped": [[pid, pname, n] for (pid, pname), n in sorted(result.unmapped.items())],
    }
    staging.put_json(layout.page_stats_key(run.run_id, page), stats)
    hashes = {r.claim_number: r.content_hash for r in result.records}
    staging.put_json(layout.page_hashes_key(run.run_id, page), hashes)
    counts = {k: stats[k] for k in ("page", "rows", "send", "unchanged", "rejected")}
    counts["reasons"] = dict(
        Counter(code for rej in result.rejected for code in {r.code for r in rej.reasons})
    )
    return counts


# --------------------------------------------------------------------------------------------------
# Upload: sObject Collections for small deltas, one Bulk API 2.0 job per ≤100 MB otherwise


def _page_stats(staging: Staging, run_id: str, page_count: int) -> list[dict[str, Any]]:
    return [staging.get_json(layout.page_stats_key(run_id, page)) for page in range(page_count)]


def _parts(staging: Staging, run_id: str, stats: list[dict[str, Any]]) -> list[list[list[str]]]:
    """The CSV rows (header dropped) of every page that has something to send."""
    parts = []
    for s in stats:
        if s["send"]:
            text = staging.get_bytes(layout.send_part_key(run_id, s["page"])).decode("utf-8")
            parts.append(list(csv.reader(io.StringIO(text, newline="")))[1:])
    return parts


def _merged_rows(parts: list[list[list[str]]], mapping: ClaimMapping) -> Iterator[list[str]]:
    """All parts merged in Bulk order (parent payor, then claim number): each part is already sorted."""
    cols = header(mapping)
    payor_i, key_i = cols.index(mapping.payor.lookup_field), cols.index(mapping.external_id_field)

    def order(row: list[str]) -> tuple[bool, str, str]:
        payor = None if row[payor_i] == "#N/A" else row[payor_i]
        return (payor is not None, payor or "", row[key_i])

    return heapq.merge(*parts, key=order)


def _csv_documents(rows: Iterable[list[str]], mapping: ClaimMapping, max_bytes: int) -> Iterator[bytes]:
    """Bulk CSV documents of at most ``max_bytes`` (header repeated). Pages already keep each claim in
    one place; this re-checks the whole upload, so no job can ever hold an external id twice."""
    key_i = header(mapping).index(mapping.external_id_field)
    seen: set[str] = set()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header(mapping))
    head = buf.getvalue().encode("utf-8")
    chunk, size = [head], len(head)
    for row in rows:
        key = external_id_key(row[key_i])
        if key in seen:
            raise DuplicateExternalIdError("an external id repeats in the upload: no Bulk job was created")
        seen.add(key)
        buf.seek(0)
        buf.truncate()
        writer.writerow(row)
        line = buf.getvalue().encode("utf-8")
        if len(head) + len(line) > max_bytes:
            raise ValueError("one record does not fit in a Bulk job")
        if size + len(line) > max_bytes and len(chunk) > 1:
            yield b"".join(chunk)
            chunk, size = [head], len(head)
        chunk.append(line)
        size += len(line)
    if len(chunk) > 1:
        yield b"".join(chunk)


def _json_value(kind: Kind | None, value: str) -> Any:
    if value == "#N/A":
        return None
    if kind is Kind.HAS_DATE:
        return value == "true"
    if kind is Kind.MONEY:
        number = float(value)
        return number if Decimal(repr(number)) == Decimal(value) else value
    return value


def _collection_records(rows: Iterable[list[str]], mapping: ClaimMapping) -> list[dict[str, Any]]:
    cols = header(mapping)
    kinds: list[Kind | None] = []
    for col in cols:
        try:
            kinds.append(mapping.rule_for(col).kind)
        except KeyError:
            kinds.append(None)
    return [
        {col: _json_value(kind, value) for col, kind, value in zip(cols, kinds, row, strict=True)}
        for row in rows
    ]


@dataclass
class UploadState:
    """Kept in S3 between StartUpload and CheckUpload polls (job ids, failures by claim)."""

    mode: str  # NONE | DRY_RUN | COLLECTIONS | BULK
    round: int = 1
    jobs: list[str] | None = None
    submitted: int = 0
    succeeded: int = 0
    failures: dict[str, list[str]] | None = None  # claim number -> [error code, Salesforce message]
    api_used: int | None = None
    api_max: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def start_upload(
    staging: Staging,
    gw: SalesforceGateway,
    settings: SyncSettings,
    mapping: ClaimMapping,
    run: Run,
    page_count: int,
    now: float,
) -> dict[str, Any]:
    stats = _page_stats(staging, run.run_id, page_count)
    to_send = sum(s["send"] for s in stats)
    if run.dry_run or to_send == 0:
        state = UploadState(mode="DRY_RUN" if run.dry_run else "NONE", failures={})
        staging.put_json(layout.upload_state_key(run.run_id), state.to_json())
        return {"pending": False, "mode": state.mode, "to_send": to_send}

    rows = list(_merged_rows(_parts(staging, run.run_id, stats), mapping))
    if len(rows) != to_send:
        raise AccountingError("staged CSV parts do not hold the rows the pages counted")
    if to_send <= settings.collections_max_rows:
        state = _send_collections(gw, mapping, rows, settings.transient_retry_rounds)
        _note_usage(state, gw)
        staging.put_json(layout.upload_state_key(run.run_id), state.to_json())
        return {"pending": False, "mode": state.mode, "to_send": to_send}

    jobs = _submit_bulk(gw, mapping, rows)
    state = UploadState(mode="BULK", jobs=jobs, submitted=len(rows), failures={})
    _note_usage(state, gw)
    staging.put_json(layout.upload_state_key(run.run_id), state.to_json())
    return {
        "pending": True,
        "mode": "BULK",
        "to_send": to_send,
        "jobs": len(jobs),
        "round": 1,
        "poll_seconds": settings.upload_poll_seconds,
        "deadline": int(now) + settings.upload_deadline_seconds,
    }


def _note_usage(state: UploadState, gw: SalesforceGateway) -> None:
    state.api_used, state.api_max = gw.stats.api_used, gw.stats.api_max


def _send_collections(
    gw: SalesforceGateway, mapping: ClaimMapping, rows: list[list[str]], rounds: int
) -> UploadState:
    key_i = header(mapping).index(mapping.external_id_field)
    state = UploadState(mode="COLLECTIONS", submitted=len(rows), failures={})
    assert state.failures is not None
    pending = rows
    for attempt in range(rounds + 1):
        retry: list[list[str]] = []
        for start in range(0, len(pending), COLLECTION_LIMIT):
            chunk = pending[start : start + COLLECTION_LIMIT]
            results = gw.collections_upsert(
                mapping.object_name, mapping.external_id_field, _collection_records(chunk, mapping)
            )
            for row, result in zip(chunk, results, strict=True):
                claim = row[key_i]
                if result.success:
                    state.succeeded += 1
                    state.failures.pop(claim, None)
                elif (result.error_code or "") in TRANSIENT_RECORD_ERRORS and attempt < rounds:
                    retry.append(row)
                else:
                    state.failures[claim] = [result.error_code or "UNKNOWN_ERROR", result.error_detail]
        if not retry:
            break
        pending = retry
    return state


def _submit_bulk(gw: SalesforceGateway, mapping: ClaimMapping, rows: Iterable[list[str]]) -> list[str]:
    jobs = []
    for document in _csv_documents(rows, mapping, MAX_JOB_BYTES):
        job_id = gw.bulk_create_job(mapping.object_name, mapping.external_id_field)
        try:
            gw.bulk_upload(job_id, document)
            gw.bulk_close(job_id)
        except Exception:
            with contextlib.suppress(Exception):  # best effort: never leave an Open job behind
                gw.bulk_abort(job_id)
            raise
        jobs.append(job_id)
    return jobs


FINAL_JOB_STATES = {"JobComplete", "Failed", "Aborted"}


def check_upload(
    staging: Staging,
    gw: SalesforceGateway,
    settings: SyncSettings,
    mapping: ClaimMapping,
    run: Run,
    request: Mapping[str, Any],
    now: float,
) -> dict[str, Any]:
    state = UploadState(**staging.get_json(layout.upload_state_key(run.run_id)))
    assert state.jobs is not None and state.failures is not None
    infos = [gw.bulk_job(job_id) for job_id in state.jobs]
    if any(info["state"] not in FINAL_JOB_STATES for info in infos):
        if now >= request["deadline"]:
            raise UploadDeadlineExceeded("Salesforce had not finished the Bulk job(s) at the deadline")
        _note_usage(state, gw)
        staging.put_json(layout.upload_state_key(run.run_id), state.to_json())
        return {
            **request,
            "pending": True,
            "poll_seconds": min(int(request["poll_seconds"]) * 2, settings.upload_poll_max_seconds),
        }

    cols = header(mapping)
    key_i = cols.index(mapping.external_id_field)
    retry_rows: list[list[str]] = []
    can_retry = state.round <= settings.transient_retry_rounds
    for info in infos:
        job_id = info["id"]
        if info["state"] == "Failed" and _is_input_error(str(info.get("errorMessage") or "")):
            raise BulkJobRejected(
                "Salesforce rejected the Bulk job's data as a whole (see the job in Salesforce)"
            )
        failed_rows = _result_rows(gw.bulk_results(job_id, "failedResults"))
        unprocessed = _result_rows(gw.bulk_results(job_id, "unprocessedrecords"))
        for result in failed_rows:
            code, _, message = result.get("sf__Error", "").partition(":")
            row = [result.get(c, "") for c in cols]
            if code in TRANSIENT_RECORD_ERRORS and can_retry:
                retry_rows.append(row)
            else:
                state.failures[row[key_i]] = [code or "UNKNOWN_ERROR", message]
        for result in unprocessed:
            row = [result.get(c, "") for c in cols]
            if can_retry:
                retry_rows.append(row)
            else:
                state.failures[row[key_i]] = ["NOT_PROCESSED", f"Bulk job ended {info['state']}"]
        processed_ok = int(info.get("numberRecordsProcessed") or 0) - int(
            info.get("numberRecordsFailed") or 0
        )
        state.succeeded += max(processed_ok, 0)

    if retry_rows:
        retry_rows.sort(key=lambda r: r[key_i])
        if len(retry_rows) <= settings.collections_max_rows:
            again = _send_collections(
                gw, mapping, retry_rows, settings.transient_retry_rounds - state.round + 1
            )
            state.succeeded += again.succeeded
            state.failures.update(again.failures or {})
            retry_rows = []
        else:
            state.jobs = _submit_bulk(gw, mapping, retry_rows)
            state.round += 1
    _note_usage(state, gw)
    staging.put_json(layout.upload_state_key(run.run_id), state.to_json())
    if retry_rows:
        return {
            **request,
            "pending": True,
            "round": state.round,
            "poll_seconds": settings.upload_poll_seconds,
        }
    return {**request, "pending": False}


def _is_input_error(message: str) -> bool:
    return message.startswith(("InvalidBatch", "ClientInputError", "InvalidJob"))


def _result_rows(body: bytes) -> list[dict[str, str]]:
    text = body.decode("utf-8-sig")
    if not text.strip():
        return []
    return list(csv.DictReader(io.StringIO(text, newline="")))


# --------------------------------------------------------------------------------------------------
# Finish: snapshot, run report, summary


def finish_run(staging: Staging, run: Run, page_count: int, rows_in: int) -> dict[str, Any]:
    stats = _page_stats(staging, run.run_id, page_count)
    upload = UploadState(**staging.get_json(layout.upload_state_key(run.run_id)))
    failures = upload.failures or {}

    sent = sum(s["send"] for s in stats)
    unchanged = sum(s["unchanged"] for s in stats)
    rejected = sum(s["rejected"] for s in stats)
    failed = 0 if run.dry_run else len(failures)
    succeeded = 0 if run.dry_run else upload.succeeded
    if sum(s["rows"] for s in stats) != rows_in or rows_in != sent + unchanged + rejected:
        raise AccountingError("rows_in != sent + unchanged + rejected")
    if not run.dry_run and sent != succeeded + failed:
        raise AccountingError("sent != succeeded + failed")

    unmapped: Counter[tuple[str, str]] = Counter()
    reasons: Counter[str] = Counter()
    rejects_csv = io.StringIO()
    rejects = csv.writer(rejects_csv, lineterminator="\n")
    rejects.writerow(["row_number", "claim_id", "reasons"])
    for s in stats:
        for payer_id, payer_name, n in s["unmapped"]:
            unmapped[(payer_id, payer_name)] += n
        for row_number, claim_id, row_reasons in s["rejects"]:
            codes = [code if column is None else f"{code}:{column}" for code, column in row_reasons]
            reasons.update({code for code, _ in row_reasons})
            rejects.writerow([row_number, claim_id or "", ";".join(codes)])

    failures_csv = io.StringIO()
    failure_writer = csv.writer(failures_csv, lineterminator="\n")
    failure_writer.writerow(["claim_id", "error_code", "salesforce_message"])
    for claim, (code, message) in sorted(failures.items()):
        failure_writer.writerow([claim, code, message])
    failure_codes = Counter(code for code, _ in failures.values())

    snapshot = ""
    if not run.dry_run:
        snapshot = layout.snapshot_prefix(run.run_id)
        for s in stats:  # what landed: unchanged claims and sent claims that did not fail
            hashes = staging.get_json(layout.page_hashes_key(run.run_id, s["page"]))
            shard = {claim: h for claim, h in hashes.items() if claim not in failures}
            staging.put_json(layout.snapshot_shard_key(snapshot, s["page"]), shard)

    reports = {
        "rejects": layout.report_key(run.run_id, "rejects.csv"),
        "failures": layout.report_key(run.run_id, "failures.csv"),
        "summary": layout.report_key(run.run_id, "summary.json"),
    }
    staging.put_bytes(reports["rejects"], rejects_csv.getvalue().encode("utf-8"), "text/csv")
    staging.put_bytes(reports["failures"], failures_csv.getvalue().encode("utf-8"), "text/csv")

    status = "DRY_RUN" if run.dry_run else ("PARTIAL" if failed or rejected else "SUCCEEDED")
    summary = {
        "run_id": run.run_id,
        "status": status,
        "full_sync": run.full_sync,
        "dry_run": run.dry_run,
        "rows_in": rows_in,
        "sent": sent,
        "new": sum(s["new"] for s in stats),
        "changed": sum(s["changed"] for s in stats),
        "unchanged": unchanged,
        "rejected": rejected,
        "succeeded": succeeded,
        "failed": failed,
        "reject_reasons": dict(sorted(reasons.items())),
        "failure_codes": dict(sorted(failure_codes.items())),
        "unmapped_payers": [
            {"payer_id": pid, "payer_name": pname, "claims": n}
            for (pid, pname), n in sorted(unmapped.items())
        ],
        "upload_mode": upload.mode,
        "salesforce_api_usage": {"used": upload.api_used, "max": upload.api_max},
        "page_count": page_count,
        "snapshot_prefix": snapshot,
        "reports": {name: staging.uri(key) for name, key in reports.items()},
        "finished_at": int(time.time()),
    }
    staging.put_json(reports["summary"], summary)
    return summary
