"""Bulk API 2.0 ingest jobs: the state machine, the CSV upload and the asynchronous processor.

A job goes Open -> (one CSV upload) -> UploadComplete -> InProgress -> JobComplete | Failed, or
Aborted from any state before it finishes. Closed jobs are taken in order by a background worker
thread, which checks each one's upload (``bulk_rows.py``) and writes a small one itself (batches of
writes); a large one is split into parts written by processes of their own, side by side as
Salesforce processes a job's chunks and a run's jobs in parallel (``bulk_process.py``). The upload is streamed to ``state_dir/jobs/<id>/upload.csv``; results are CSV
files next to it.

What happens to the rows (and the semantics clients rely on) is in ``bulk_rows.py``.
"""

from __future__ import annotations

import builtins
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from local.salesforce_emulator import bulk_process
from local.salesforce_emulator import fields as F
from local.salesforce_emulator.bulk_rows import (
    BATCH_SIZE,
    DELIMITERS,
    JobFailed,
    Part,
    Plan,
    assemble_results,
    discard_parts,
    split,
)
from local.salesforce_emulator.faults import Faults
from local.salesforce_emulator.records import Records
from local.salesforce_emulator.schema import FieldDef, ObjectDef, Schema
from local.salesforce_emulator.store import Store

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 150 * 1024 * 1024
OPERATIONS = ("insert", "update", "upsert", "delete")
LINE_ENDINGS = ("LF", "CRLF")
FINAL_STATES = ("JobComplete", "Failed", "Aborted")
RESULT_FILES = {
    "successfulresults": "success.csv",
    "failedresults": "failed.csv",
    "unprocessedrecords": "unprocessed.csv",
}
_JOB_OBJECT = ObjectDef("BulkIngestJob", "750")
_INFO_KEYS = (
    "id",
    "operation",
    "object",
    "createdById",
    "createdDate",
    "systemModstamp",
    "state",
    "externalIdFieldName",
    "concurrencyMode",
    "contentType",
    "apiVersion",
    "contentUrl",
    "lineEnding",
    "columnDelimiter",
)


class BulkError(Exception):
    """An API-level error of a Bulk call (status code, errorCode, message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class BulkJobs:
    def __init__(
        self, store: Store, schema: Schema, records: Records, faults: Faults, jobs_dir: Path, user_id: str
    ) -> None:
        self.store = store
        self.schema = schema
        self.records = records
        self.faults = faults
        self.jobs_dir = jobs_dir
        self.user_id = user_id
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._mutex = threading.RLock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._held: list[str] = []  # queued jobs the hold_jobs fault keeps from processing
        self._open_parts: dict[str, tuple[int, int]] = {}  # job id -> (parts being written, parts)
        self._processes = bulk_process.JobProcesses(self._part_ended)

    # -- lifecycle of the worker ------------------------------------------------------------------

    def start(self) -> None:
        for info in self.store.list_jobs():
            if info["state"] in ("UploadComplete", "InProgress"):  # interrupted by a restart: run again
                self._update(info["id"], state="UploadComplete")
                self._queue.put(info["id"])
        self._worker = threading.Thread(target=self._run, name="bulk-ingest", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        if self._worker:
            self._queue.put(None)
            self._worker.join(timeout=30)
            self._worker = None
        self._processes.stop()

    def _run(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self._process(job_id)
            except Exception:
                log.exception("bulk job processing crashed")
                self._crashed(job_id, 0.0)

    def _crashed(self, job_id: str, started: float) -> None:
        if self._state(job_id) == "InProgress":
            self._finish_failed(job_id, "InternalServerError : the job could not be processed", started)

    # -- API operations ---------------------------------------------------------------------------

    def create(self, body: Any, api_version: str) -> dict[str, Any]:
        operation, obj, ext_field, delimiter, line_ending = self._job_request(body)
        (job_id,) = self.store.allocate_ids(_JOB_OBJECT, 1)
        now = F.now_sf()
        version = api_version.lstrip("v")
        info: dict[str, Any] = {
            "id": job_id,
            "operation": operation,
            "object": obj.name,
            "createdById": self.user_id,
            "createdDate": now,
            "systemModstamp": now,
            "state": "Open",
            "externalIdFieldName": ext_field.name if ext_field else None,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "contentUrl": f"services/data/v{version}/jobs/ingest/{job_id}/batches",
            "lineEnding": line_ending,
            "columnDelimiter": delimiter,
            "jobType": "V2Ingest",
            "numberRecordsProcessed": 0,
            "numberRecordsFailed": 0,
            "retries": 0,
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
            "_uploaded": False,
        }
        (self.jobs_dir / job_id).mkdir(parents=True, exist_ok=True)
        self.store.save_job(info, time.time())
        self._processes.prepare()  # warm children for the parts of a large upload, which comes next
        return self.public(info, full=False)

    def _job_request(self, body: Any) -> tuple[str, ObjectDef, FieldDef | None, str, str]:
        """A create-job body checked: (operation, object, external id field, delimiter, line ending)."""
        if not isinstance(body, dict):
            raise BulkError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        operation = body.get("operation")
        if operation not in OPERATIONS:
            if operation in ("hardDelete",):
                raise BulkError(400, "FEATURENOTENABLED", "hardDelete is not enabled in this org")
            raise BulkError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        obj_name = body.get("object")
        obj = self.schema.object(obj_name) if isinstance(obj_name, str) else None
        if obj is None:
            raise BulkError(400, "INVALIDJOB", f"InvalidJob : Unable to find object: {obj_name}")
        content_type = body.get("contentType", "CSV")
        if content_type != "CSV":
            raise BulkError(400, "INVALIDJOB", f"InvalidJob : Unsupported content type: {content_type}")
        delimiter = body.get("columnDelimiter", "COMMA")
        if delimiter not in DELIMITERS:
            raise BulkError(400, "INVALIDJOB", f"InvalidJob : Invalid column delimiter: {delimiter}")
        line_ending = body.get("lineEnding", "LF")
        if line_ending not in LINE_ENDINGS:
            raise BulkError(400, "INVALIDJOB", f"InvalidJob : Invalid line ending: {line_ending}")
        ext_field = _upsert_field(obj, body.get("externalIdFieldName")) if operation == "upsert" else None
        return str(operation), obj, ext_field, str(delimiter), str(line_ending)

    @staticmethod
    def public(info: dict[str, Any], *, full: bool = True) -> dict[str, Any]:
        if not full:
            return {k: info[k] for k in _INFO_KEYS}
        out = {k: v for k, v in info.items() if not k.startswith("_")}
        if out.get("errorMessage") is None:
            out.pop("errorMessage", None)
        return out

    def get(self, job_id: str) -> dict[str, Any]:
        info = self.store.load_job(job_id)
        if info is None:
            raise BulkError(404, "NOT_FOUND", "The requested resource does not exist")
        return info

    def list(self) -> dict[str, Any]:
        return {
            "done": True,
            "records": [self.public(i, full=False) | {"jobType": "V2Ingest"} for i in self.store.list_jobs()],
            "nextRecordsUrl": None,
        }

    def upload(self, job_id: str, stream: IO[bytes], length: int | None) -> None:
        with self._mutex:
            info = self.get(job_id)
            if info["state"] != "Open":
                raise BulkError(409, "INVALIDJOBSTATE", f"Job {job_id} is not in the Open state")
            if info["_uploaded"]:
                raise BulkError(
                    400,
                    "INVALIDJOBSTATE",
                    f"Found multiple contents for job: <{job_id}>, please 'Close' / 'Abort' / 'Delete' the "
                    "current Job then create a new Job and make sure you only do 'PUT' once on a given Job.",
                )
            info["_uploaded"] = True  # claim the single upload before streaming
            self.store.save_job(info, time.time())
        target = self.jobs_dir / job_id / "upload.csv"
        total = 0
        with open(target, "wb") as out:
            while True:
                chunk = stream.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                if total > MAX_UPLOAD_BYTES:
                    out.close()
                    target.unlink(missing_ok=True)
                    self._update(job_id, _uploaded=False)
                    raise BulkError(
                        413,
                        "EXCEEDED_MAX_SIZE_REQUEST",
                        "Maximum size of request reached. Maximum size of request is 150 MB",
                    )
                out.write(chunk)
        if total == 0:
            self._update(job_id, _uploaded=False)
            raise BulkError(400, "INVALIDJOBSTATE", "The request body is empty")

    def set_state(self, job_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("state") not in ("UploadComplete", "Aborted"):
            state = body.get("state") if isinstance(body, dict) else None
            raise BulkError(400, "INVALIDJOBSTATE", f"Invalid state: {state}")
        wanted = body["state"]
        with self._mutex:
            # Read and changed in one transaction: an ingest process completing the job meanwhile
            # cannot have its JobComplete overwritten by an abort that read InProgress.
            with self.store.transaction():
                current = self.get(job_id)["state"]
                if wanted == "UploadComplete" and current != "Open":
                    raise BulkError(
                        409, "INVALIDJOBSTATE", f"Job {job_id} is not in the Open state: {current}"
                    )
                if wanted == "Aborted" and current in FINAL_STATES:
                    raise BulkError(409, "INVALIDJOBSTATE", f"Cannot abort job {job_id} in state {current}")
                info = self._save_changed(job_id, lambda info: info.update(state=wanted))
            if wanted == "UploadComplete":
                self._queue.put(job_id)  # committed first: the ingest thread reads it from the store
            elif current in ("Open", "UploadComplete"):
                self._write_unprocessed_all(info)  # nothing of it ran: every row is unprocessed
        return self.public(info, full=False)

    def delete(self, job_id: str) -> None:
        with self._mutex:
            info = self.get(job_id)
            if info["state"] not in FINAL_STATES:
                raise BulkError(
                    400, "INVALIDJOBSTATE", f"Job {job_id} cannot be deleted in state {info['state']}"
                )
            self.store.delete_job(job_id)
        shutil.rmtree(self.jobs_dir / job_id, ignore_errors=True)

    def result_file(self, job_id: str, kind: str) -> tuple[Path | None, bytes]:
        """The results CSV of ``kind`` (a file to stream, or header-only bytes while not ready)."""
        info = self.get(job_id)
        path = self.jobs_dir / job_id / RESULT_FILES[kind]
        if path.exists():
            return path, b""
        if kind == "unprocessedrecords" and info["state"] in ("Open", "UploadComplete"):
            upload = self.jobs_dir / job_id / "upload.csv"
            return (upload if upload.exists() else None), b""
        header = self._upload_header(info)
        prefix = {"successfulresults": '"sf__Id","sf__Created"', "failedresults": '"sf__Id","sf__Error"'}
        line = prefix.get(kind, "")
        if header:
            line = f"{line},{header}" if line else header
        return None, (line + "\n").encode() if line else b""

    # -- internals --------------------------------------------------------------------------------

    def _update(self, job_id: str, **changes: Any) -> dict[str, Any]:
        """Read, change and write a job's info in one transaction: an ingest process and this one
        never overwrite each other's changes."""
        with self._mutex, self.store.transaction():
            return self._save_changed(job_id, lambda info: info.update(changes))

    def _save_changed(self, job_id: str, change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
        """The job's info read, changed, stamped and saved: in the caller's transaction."""
        info = self.get(job_id)
        change(info)
        info["systemModstamp"] = F.now_sf()
        self.store.save_job(info, time.time())
        return info

    def _upload_header(self, info: dict[str, Any]) -> str:
        upload = self.jobs_dir / info["id"] / "upload.csv"
        if not upload.exists():
            return ""
        with open(upload, encoding="utf-8-sig", errors="replace", newline="") as fh:
            first = fh.readline()
        return first.rstrip("\r\n").replace(DELIMITERS[info["columnDelimiter"]], ",")

    def _write_unprocessed_all(self, info: dict[str, Any]) -> None:
        upload = self.jobs_dir / info["id"] / "upload.csv"
        if upload.exists():
            shutil.copyfile(upload, self.jobs_dir / info["id"] / "unprocessed.csv")

    def _finish_failed(self, job_id: str, message: str, started: float) -> None:
        info = self.store.load_job(job_id)
        if info is None:
            return
        elapsed = int((time.monotonic() - started) * 1000) if started else 0
        self._write_unprocessed_all(info)
        self._update(
            job_id,
            state="Failed",
            errorMessage=message,
            totalProcessingTime=elapsed,
            apiActiveProcessingTime=elapsed,
        )

    def _state(self, job_id: str) -> str | None:
        info = self.store.load_job(job_id)
        return None if info is None else str(info["state"])

    def held(self) -> builtins.list[str]:
        """The jobs the ``hold_jobs`` fault keeps queued, in the order they were closed."""
        with self._mutex:
            return list(self._held)

    def release_held(self) -> None:
        """Queue the jobs the ``hold_jobs`` fault held back (called when the fault is turned off)."""
        with self._mutex:
            held, self._held = self._held, []
        for job_id in held:
            self._queue.put(job_id)

    def _process(self, job_id: str) -> None:
        with self._mutex:
            info = self.store.load_job(job_id)
            if info is None or info["state"] != "UploadComplete":
                return  # aborted or deleted meanwhile
            if self.faults.hold_jobs:
                self._held.append(job_id)  # stays UploadComplete (queued) until released
                return
            info = self._update(job_id, state="InProgress", numberRecordsProcessed=0, numberRecordsFailed=0)
        started = time.monotonic()
        if self.faults.take_fail_job():
            self._finish_failed(
                job_id,
                "InternalServerError : An unexpected error occurred (injected by the emulator's fail_job fault)",
                started,
            )
            return
        upload = self.jobs_dir / job_id / "upload.csv"
        if not info["_uploaded"] or not upload.exists():
            self._finish_failed(job_id, "InvalidBatch : No data was uploaded for this job", started)
            return
        in_processes = upload.stat().st_size >= bulk_process.CHILD_MIN_BYTES and not self.faults.locking_rows
        plan = Plan(self, info, upload)
        try:
            every = bulk_process.SPLIT_ROWS if in_processes else BATCH_SIZE
            starts, rows = plan.check(every)
        except JobFailed as exc:
            self._finish_failed(job_id, str(exc), started)
            return
        parts = split(starts, every, rows, bulk_process.MAX_CHILDREN if in_processes else 1)
        if not in_processes:
            plan.run(parts[0])
            self._complete(job_id, 1, started)
            return
        with self._mutex:
            self._open_parts[job_id] = (len(parts), len(parts))
        work = {
            "db_path": str(self.store.path),
            "schema": self.schema,
            "jobs_dir": str(self.jobs_dir),
            "user_id": self.user_id,
            "duplicates": plan.duplicates,
        }
        for part in parts:
            if not self._processes.start(job_id, part, work, started):
                return  # the emulator is stopping: the job runs again on its next start

    def ingest_part(self, job_id: str, part: Part, duplicates: set[str]) -> None:
        """Write one part of a checked ``InProgress`` job's upload (in an ingest process)."""
        plan = Plan(self, self.get(job_id), self.jobs_dir / job_id / "upload.csv")
        plan.read_header()
        plan.duplicates = duplicates
        plan.run(part)

    def _part_ended(self, job_id: str, started: float, ok: bool) -> None:
        """An ingest process ended (``ok``: with its part written); the last one finishes the job."""
        if not ok:
            self._crashed(job_id, started)
        with self._mutex:
            left, parts = self._open_parts[job_id]
            if left > 1:
                self._open_parts[job_id] = (left - 1, parts)
                return
            del self._open_parts[job_id]
        self._complete(job_id, parts, started)

    def _complete(self, job_id: str, parts: int, started: float) -> None:
        """Every part is done: the results files joined, then the job final (JobComplete, unless it
        was aborted or failed meanwhile). A failed job's results are its unprocessed upload."""
        job_dir = self.jobs_dir / job_id
        state = self._state(job_id)
        if state is None:  # deleted, or wiped by a reset, while its parts were written
            return
        if state == "Failed":
            discard_parts(job_dir)
            return
        try:
            assemble_results(job_dir, parts)
        except FileNotFoundError:  # the job's directory went with a reset meanwhile
            log.warning("bulk job %s: its results were gone before they were joined", job_id)
            return
        elapsed = int((time.monotonic() - started) * 1000)
        with self._mutex, self.store.transaction():
            changes: dict[str, Any] = {"totalProcessingTime": elapsed, "apiActiveProcessingTime": elapsed}
            if self._state(job_id) == "InProgress":
                changes["state"] = "JobComplete"
            self._update(job_id, **changes)

    def _count(self, job_id: str, processed: int, failed: int) -> None:
        """A batch's rows added to the job's counts, inside the batch's transaction (which makes the
        read-modify-write safe from the other writers, in this process or another; the job mutex is
        not taken, as an API call holding it may be waiting for that transaction)."""

        def counted(info: dict[str, Any]) -> None:
            info["numberRecordsProcessed"] += processed
            info["numberRecordsFailed"] += failed

        self._save_changed(job_id, counted)


def _upsert_field(obj: ObjectDef, ext_name: Any) -> FieldDef:
    if not ext_name:
        raise BulkError(400, "INVALIDJOB", "InvalidJob : External ID was blank for Upsert")
    ext_field = obj.field(str(ext_name))
    if ext_field is None or not (ext_field.external_id or ext_field.name == "Id"):
        raise BulkError(
            400,
            "INVALIDJOB",
            f"InvalidJob : Field name provided, {ext_name} is not an External ID or indexed field for {obj.name}",
        )
    return ext_field
