"""In-memory fakes at the domain seam (``claimsync.steps.deps.Deps``): S3, Salesforce, CollaborateMD.

They implement only what the steps call, with the behaviours the steps must handle (row lock
failures, Bulk jobs that take polls to finish, a busy report), so each step's logic is tested in
milliseconds without the local world. The real clients are proven against the emulators in
tests/contract and the whole run in tests/sync.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from claimsync.collaboratemd import CmdReportBusy, ReportPoll
from claimsync.config import SyncSettings
from claimsync.mapping import ClaimMapping
from claimsync.mapping_file import load_mapping
from claimsync.report_registry import ReportRequest
from claimsync.salesforce.gateway import CallStats, RecordResult
from claimsync.staging import Staging


class NoSuchKey(Exception):
    pass


class FakeS3:
    class exceptions:
        NoSuchKey = NoSuchKey

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: Any, ContentType: str = "") -> None:
        self.objects[Key] = bytes(Body) if isinstance(Body, bytes | bytearray) else Body.read()

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        if Key not in self.objects:
            raise NoSuchKey(Key)
        return {"Body": io.BytesIO(self.objects[Key])}

    def copy_object(self, *, Bucket: str, Key: str, CopySource: dict[str, str]) -> None:
        if CopySource["Key"] not in self.objects:
            raise NoSuchKey(CopySource["Key"])
        self.objects[Key] = self.objects[CopySource["Key"]]


@dataclass
class FakeJob:
    id: str
    rows: list[dict[str, str]]
    polls_left: int
    state: str = "Open"
    failed: list[dict[str, str]] = field(default_factory=list)


@dataclass
class FakeSalesforce:
    """Upserts into ``records`` by external id. ``lock_failures[claim] = n``: the claim fails with
    UNABLE_TO_LOCK_ROW its first n attempts. A Bulk job needs ``job_polls`` polls to complete."""

    key_field: str = "Claim_Number__c"
    lock_failures: dict[str, int] = field(default_factory=dict)
    job_polls: int = 1
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    stats: CallStats = field(default_factory=CallStats)
    payor_mappings: list[dict[str, Any]] = field(default_factory=list)

    def _attempt(self, claim: str) -> bool:
        left = self.lock_failures.get(claim, 0)
        if left:
            self.lock_failures[claim] = left - 1
            return False
        return True

    def query_all(self, soql: str) -> list[dict[str, Any]]:
        self.calls["query"] += 1
        return list(self.payor_mappings)

    def collections_upsert(self, sobject: str, key: str, records: list[dict[str, Any]]) -> list[RecordResult]:
        self.calls["collections"] += 1
        results = []
        for record in records:
            if self._attempt(record[key]):
                self.records[record[key]] = record
                results.append(RecordResult(success=True, id="a00", created=True))
            else:
                results.append(RecordResult(False, None, None, "UNABLE_TO_LOCK_ROW", "locked"))
        return results

    def bulk_create_job(self, sobject: str, key: str, operation: str = "upsert") -> str:
        self.calls["bulk_create_job"] += 1
        job_id = f"750{len(self.jobs):015d}"
        self.jobs[job_id] = FakeJob(job_id, [], self.job_polls)
        return job_id

    def bulk_upload(self, job_id: str, data: Any) -> None:
        self.calls["bulk_upload"] += 1
        text = (data if isinstance(data, bytes) else data.read()).decode("utf-8")
        self.jobs[job_id].rows = list(csv.DictReader(io.StringIO(text, newline="")))

    def bulk_close(self, job_id: str) -> None:
        self.calls["bulk_close"] += 1
        self.jobs[job_id].state = "UploadComplete"

    def bulk_abort(self, job_id: str) -> None:
        self.jobs[job_id].state = "Aborted"

    def bulk_job(self, job_id: str) -> dict[str, Any]:
        self.calls["bulk_job"] += 1
        job = self.jobs[job_id]
        job.polls_left -= 1
        done = job.polls_left <= 0
        if done and job.state != "JobComplete":
            job.state = "JobComplete"
            job.failed = [r for r in job.rows if not self._attempt(r[self.key_field])]
            for row in job.rows:
                if row not in job.failed:
                    self.records[row[self.key_field]] = row
        processed = len(job.rows) if done else len(job.rows) // 2
        failed = len(job.failed)
        return {
            "id": job_id,
            "state": job.state if done else "InProgress",
            "numberRecordsProcessed": processed,
            "numberRecordsFailed": failed if done else 0,
        }

    def bulk_results(self, job_id: str, kind: str, sink: Any) -> int:
        return sink.write(self._results(job_id, kind))

    def _results(self, job_id: str, kind: str) -> bytes:
        self.calls["bulk_results"] += 1
        job = self.jobs[job_id]
        rows = job.failed if kind == "failedResults" else []
        if not rows:
            return b""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["sf__Id", "sf__Error", *rows[0]], lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({"sf__Id": "", "sf__Error": "UNABLE_TO_LOCK_ROW:locked", **row})
        return out.getvalue().encode("utf-8")


@dataclass
class FakeCollaborateMD:
    data: bytes = b""
    running_polls: int = 0
    busy: bool = False
    started: int = 0

    def start_report(self) -> str:
        if self.busy:
            raise CmdReportBusy("run: REPORT RUNNING")
        self.started += 1
        return f"req-{self.started}"

    def poll_results(self, identifier: str, spool: Any) -> ReportPoll:
        if self.running_polls > 0:
            self.running_polls -= 1
            return ReportPoll("RUNNING")
        spool.write(self.data)
        return ReportPoll("READY", len(self.data))


@dataclass
class FakeRegistry:
    request: ReportRequest | None = None

    def recorded(self) -> ReportRequest | None:
        return self.request

    def record(self, request: ReportRequest, *, expires_at: int) -> None:
        self.request = request

    def forget(self, request_id: str) -> None:
        if self.request is not None and self.request.request_id == request_id:
            self.request = None


@dataclass
class FakeDeps:
    """``claimsync.steps.deps.Deps`` over the fakes above; ``now`` is set by the test."""

    settings: SyncSettings = field(
        default_factory=lambda: SyncSettings(
            bucket="b", table="t", salesforce_secret_id="s", collaboratemd_secret_id="c"
        )
    )
    mapping: ClaimMapping = field(default_factory=load_mapping)
    s3: FakeS3 = field(default_factory=FakeS3)
    salesforce: FakeSalesforce = field(default_factory=FakeSalesforce)  # type: ignore[assignment]
    collaboratemd: FakeCollaborateMD = field(default_factory=FakeCollaborateMD)  # type: ignore[assignment]
    reports: FakeRegistry = field(default_factory=FakeRegistry)  # type: ignore[assignment]
    now: float = 1_700_000_000.0

    @property
    def staging(self) -> Staging:
        return Staging(self.s3, "b")

    def json(self, key: str) -> Any:
        return json.loads(self.s3.objects[key])
