"""FinishRun: check the accounting, write the run's report and the new snapshot, summarise the run.

Accounting, kept for every run: ``rows_in = sent + unchanged + rejected`` and, unless a dry run,
``sent = succeeded + failed``; a mismatch fails the run (``AccountingError``) rather than lose a claim.
The snapshot (claim → content hash of what landed: unchanged claims and sent claims that did not
fail) has one shard per page. TransformPage writes each shard as if every claim sent lands; FinishRun
takes the failed claims out of the shards that hold one, a few pages at a time (their S3 round trips
overlap). Failed and rejected claims are thus left out, so the next run sends them again; the
checkpoint points at the snapshot only once FinishRun has ended (SaveCheckpoint).
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import IO

from claimsync import layout
from claimsync.staging import Staging, claim_bucket, each_overlapped
from claimsync.steps.contract import to_payload
from claimsync.steps.deps import Deps
from claimsync.steps.run import Run
from claimsync.steps.staged import PageOutcome, UnmappedPayer, page_outcome
from claimsync.steps.upload import AccountingError, Failure, UploadState, load_state
from claimsync.transform import external_id_key

SUCCEEDED, PARTIAL, DRY_RUN = "SUCCEEDED", "PARTIAL", "DRY_RUN"


@dataclass(frozen=True)
class FinishTask:
    run: Run
    page_count: int
    rows_in: int


@dataclass(frozen=True)
class ApiUsage:
    used: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class RunSummary:
    """``$.summary``: the run record's content (the S3 ``summary.json`` adds the unmapped payers)."""

    run_id: str
    status: str
    full_sync: bool
    dry_run: bool
    rows_in: int
    sent: int
    new: int
    changed: int
    unchanged: int
    rejected: int
    succeeded: int
    failed: int
    page_count: int
    upload_mode: str
    snapshot_prefix: str
    finished_at: int
    reject_reasons: dict[str, int] = field(default_factory=dict)
    failure_codes: dict[str, int] = field(default_factory=dict)
    unmapped_payer_count: int = 0
    salesforce_api_usage: ApiUsage = field(default_factory=ApiUsage)
    reports: dict[str, str] = field(default_factory=dict)


def finish_run(deps: Deps, task: FinishTask) -> RunSummary:
    run = task.run
    with tempfile.TemporaryFile(prefix="rejects-") as rejects:  # the rejects report, until it is sent
        outcomes, reasons = _outcomes_and_reasons(deps, run.run_id, task.page_count, rejects)
        upload = load_state(deps, run.run_id)
        failures = {} if run.dry_run else upload.failures
        counts = _check_accounting(outcomes, upload, task.rows_in, run.dry_run)

        snapshot = "" if run.dry_run else layout.snapshot_prefix(run.run_id)
        staging, by_page = deps.staging, _failures_by_page(failures, task.page_count)  # not per thread
        for _ in each_overlapped(
            lambda page: _finish_page(staging, run, page, by_page.get(page, {}), snapshot),
            range(task.page_count),
        ):
            pass
        reports = _write_reports(deps, run.run_id, failures, rejects)
    unmapped = _unmapped(outcomes)
    summary = RunSummary(
        run_id=run.run_id,
        status=DRY_RUN if run.dry_run else (PARTIAL if failures or counts["rejected"] else SUCCEEDED),
        full_sync=run.full_sync,
        dry_run=run.dry_run,
        rows_in=task.rows_in,
        sent=counts["sent"],
        new=sum(o.new for o in outcomes),
        changed=sum(o.changed for o in outcomes),
        unchanged=counts["unchanged"],
        rejected=counts["rejected"],
        succeeded=0 if run.dry_run else upload.succeeded,
        failed=len(failures),
        page_count=task.page_count,
        upload_mode=upload.mode,
        snapshot_prefix=snapshot,
        finished_at=int(deps.now),
        reject_reasons=reasons,
        failure_codes=dict(sorted(Counter(f.code for f in failures.values()).items())),
        unmapped_payer_count=len(unmapped),
        salesforce_api_usage=ApiUsage(upload.api_used, upload.api_max),
        reports={name: deps.staging.uri(key) for name, key in reports.items()},
    )
    document = to_payload(summary) | {"unmapped_payers": [to_payload(u) for u in unmapped]}
    deps.staging.put_json(reports["summary"], document)
    return summary


def _check_accounting(
    outcomes: list[PageOutcome], upload: UploadState, rows_in: int, dry_run: bool
) -> dict[str, int]:
    counts = {
        "rows": sum(o.rows for o in outcomes),
        "sent": sum(o.sent for o in outcomes),
        "unchanged": sum(o.unchanged for o in outcomes),
        "rejected": sum(o.rejected for o in outcomes),
    }
    if counts["rows"] != rows_in or rows_in != counts["sent"] + counts["unchanged"] + counts["rejected"]:
        raise AccountingError("rows_in != sent + unchanged + rejected")
    if not dry_run and counts["sent"] != upload.succeeded + len(upload.failures):
        raise AccountingError("sent != succeeded + failed")
    return counts


def _finish_page(staging: Staging, run: Run, page: int, failures: dict[str, Failure], snapshot: str) -> None:
    """One page's claim index into the run's reports, and (``failures``: the page's only) the claims
    Salesforce failed taken out of its snapshot shard and marked in the index. TransformPage wrote
    both as if every claim sent lands, so a page without failures is one server-side copy."""
    staged, kept = layout.page_claims_key(run.run_id, page), layout.claim_index_key(run.run_id, page)
    if not failures:
        staging.copy(staged, kept)
        return
    if snapshot:
        shard_key = layout.snapshot_shard_key(snapshot, page)
        hashes = staging.get_json(shard_key)
        staging.put_json(shard_key, {claim: h for claim, h in hashes.items() if claim not in failures})
    index = staging.get_json(staged)
    for entries in index.values():
        for entry in entries:
            failure = failures.get(entry["claim"]) if entry["outcome"] in ("new", "changed") else None
            if failure is not None:
                entry["result"], entry["error"] = "failed", failure.code
    staging.put_json(kept, index)


def _failures_by_page(failures: dict[str, Failure], page_count: int) -> dict[int, dict[str, Failure]]:
    by_page: dict[int, dict[str, Failure]] = {}
    for claim, failure in failures.items():
        by_page.setdefault(claim_bucket(external_id_key(claim), page_count), {})[claim] = failure
    return by_page


def _write_reports(
    deps: Deps, run_id: str, failures: dict[str, Failure], rejects: IO[bytes]
) -> dict[str, str]:
    """The rejects report (``rejects``: its CSV, written while the outcomes were read) and the
    failures report; their keys and the summary's."""
    keys = {
        name: layout.report_key(run_id, f"{name}.{ext}")
        for name, ext in (("rejects", "csv"), ("failures", "csv"), ("summary", "json"))
    }
    rejects.seek(0)
    deps.staging.put_file(keys["rejects"], rejects, "text/csv")
    failed = _csv(
        ["claim_id", "error_code", "salesforce_message"],
        ([claim, f.code, f.message] for claim, f in sorted(failures.items())),
    )
    deps.staging.put_bytes(keys["failures"], failed, "text/csv")
    return keys


def _csv(header: list[str], rows: Iterable[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _outcomes_and_reasons(
    deps: Deps, run_id: str, page_count: int, rejects: IO[bytes]
) -> tuple[list[PageOutcome], dict[str, int]]:
    """The pages' outcomes without their rejects, and the rejected rows per reason code (a row counts
    once per code, however many columns); the rejects go to ``rejects`` as the rejects report's CSV.
    Rejects grow with the report: they are read one page at a time, in one pass, never all held."""
    outcomes, counts, staging = [], Counter[str](), deps.staging
    text = io.TextIOWrapper(rejects, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["row_number", "claim_id", "reasons"])
    for outcome in each_overlapped(lambda page: page_outcome(staging, run_id, page), range(page_count)):
        writer.writerows([r.row_number, r.claim_id or "", r.codes()] for r in outcome.rejects)
        counts.update(code for rej in outcome.rejects for code in {r.code for r in rej.reasons})
        outcomes.append(replace(outcome, rejects=()))
    text.detach()  # ``rejects`` stays open: the caller sends it once the run's accounting holds
    return outcomes, dict(sorted(counts.items()))


def _unmapped(outcomes: Iterable[PageOutcome]) -> list[UnmappedPayer]:
    totals: Counter[tuple[str, str]] = Counter()
    for outcome in outcomes:
        for payer in outcome.unmapped:
            totals[(payer.payer_id, payer.payer_name)] += payer.claims
    return [UnmappedPayer(pid, name, n) for (pid, name), n in sorted(totals.items())]
