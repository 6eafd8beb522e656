"""Bulk API 2.0 ingest jobs: the state machine, the CSV upload and the asynchronous processor.

A job goes Open -> (one CSV upload) -> UploadComplete -> InProgress -> JobComplete | Failed, or
Aborted from any state before it finishes. Processing happens on a background worker thread, in
internal batches of 10,000 rows, each batch one SQLite transaction written with ``executemany``.
The upload is streamed to ``state_dir/jobs/<id>/upload.csv`` and read twice (a check pass, then the
write pass), so memory stays flat whatever the file size. Results are CSV files next to it.

Semantics that matter to clients (and that the emulator keeps faithfully):
- an empty cell is ignored on update and null on insert; ``#N/A`` sets null;
- an external id repeated in one job fails every row that carries it
  (``DUPLICATE_VALUE:Duplicate external id specified: <value>:--``);
- an unknown column or a malformed CSV fails the whole job (state Failed with an ``errorMessage``);
- row order in the result files follows the upload, which real Salesforce does not promise.
"""

from __future__ import annotations

import builtins
import csv
import io
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from local.salesforce_emulator import fields as F
from local.salesforce_emulator.faults import Faults
from local.salesforce_emulator.records import Records, lock_row_error
from local.salesforce_emulator.schema import FieldDef, ObjectDef, Schema
from local.salesforce_emulator.store import Store

log = logging.getLogger(__name__)

BATCH_SIZE = 10_000
MAX_UPLOAD_BYTES = 150 * 1024 * 1024
OPERATIONS = ("insert", "update", "upsert", "delete")
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
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


class JobFailed(Exception):
    """The whole job fails with this ``errorMessage``."""


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

    def _run(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self._process(job_id)
            except Exception:
                log.exception("bulk job processing crashed")
                self._finish_failed(job_id, "InternalServerError : the job could not be processed", 0.0)

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
        with self._mutex:
            info = self.get(job_id)
            current = info["state"]
            if body["state"] == "UploadComplete":
                if current != "Open":
                    raise BulkError(
                        409, "INVALIDJOBSTATE", f"Job {job_id} is not in the Open state: {current}"
                    )
                info = self._update(job_id, state="UploadComplete")
                self._queue.put(job_id)
            else:
                if current in FINAL_STATES:
                    raise BulkError(409, "INVALIDJOBSTATE", f"Cannot abort job {job_id} in state {current}")
                info = self._update(job_id, state="Aborted")
                if current in ("Open", "UploadComplete"):
                    self._write_unprocessed_all(info)
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
        with self._mutex:
            info = self.get(job_id)
            info.update(changes)
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
            info = self._update(job_id, state="InProgress")
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
        try:
            plan = _Plan(self, info, upload)
            plan.check()
        except JobFailed as exc:
            self._finish_failed(job_id, str(exc), started)
            return
        processed, failed, aborted = plan.run()
        elapsed = int((time.monotonic() - started) * 1000)
        with self._mutex:
            changes: dict[str, Any] = {
                "numberRecordsProcessed": processed,
                "numberRecordsFailed": failed,
                "totalProcessingTime": elapsed,
                "apiActiveProcessingTime": elapsed,
            }
            if not aborted and self._state(job_id) == "InProgress":
                changes["state"] = "JobComplete"
            self._update(job_id, **changes)


class _Plan:
    """One job's processing: header mapping, a checking pass, then batches of writes."""

    def __init__(self, jobs: BulkJobs, info: dict[str, Any], upload: Path) -> None:
        self.jobs = jobs
        self.info = info
        self.upload = upload
        self.dir = upload.parent
        self.delimiter = DELIMITERS[info["columnDelimiter"]]
        obj = jobs.schema.object(info["object"])
        assert obj is not None
        self.obj: ObjectDef = obj
        self.operation: str = info["operation"]
        self.ext: FieldDef | None = (
            obj.field(info["externalIdFieldName"]) if info.get("externalIdFieldName") else None
        )
        self.header: list[str] = []
        self.columns: list[tuple[int, FieldDef, Any]] = []
        self.key_index: int | None = None
        self.duplicates: set[str] = set()

    def _reader(self, fh: IO[str]) -> Iterator[list[str]]:
        return csv.reader(fh, delimiter=self.delimiter, strict=True)

    def _open(self) -> IO[str]:
        return open(self.upload, encoding="utf-8-sig", newline="")

    def check(self) -> None:
        with open(self.upload, "rb") as raw:
            first = raw.readline()
        crlf = first.endswith(b"\r\n")
        if crlf != (self.info["lineEnding"] == "CRLF"):
            raise JobFailed(
                "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is "
                f"{self.info['lineEnding']}"
            )
        try:
            with self._open() as fh:
                reader = self._reader(fh)
                header = next(reader, None)
                if not header or header == [""]:
                    raise JobFailed("InvalidBatch : Failed to parse CSV header: the file is empty")
                self._map_header(header)
                counts: dict[str, int] = {}
                width = len(header)
                ki = self.key_index
                for line_no, row in enumerate(reader, start=2):
                    if len(row) != width:
                        if row == [] or row == [""]:
                            continue
                        raise JobFailed(
                            f"InvalidBatch : Wrong number of columns in row {line_no}: "
                            f"expected {width}, found {len(row)}"
                        )
                    if ki is not None:
                        key = row[ki].strip().lower()
                        if key:
                            counts[key] = counts.get(key, 0) + 1
        except csv.Error as exc:
            raise JobFailed(f"InvalidBatch : Failed to parse CSV: {exc}") from None
        except UnicodeDecodeError:
            raise JobFailed("InvalidBatch : Failed to parse CSV: the data is not valid UTF-8") from None
        if self.operation == "upsert":
            self.duplicates = {k for k, n in counts.items() if n > 1}

    def _map_header(self, header: list[str]) -> None:
        self.header = header
        seen: set[str] = set()
        for i, name in enumerate(header):
            clean = name.strip()
            f = self.obj.field(clean)
            if f is None:
                raise JobFailed(f"InvalidBatch : Field name not found : {clean}")
            if f.name in seen:
                raise JobFailed(f"InvalidBatch : Duplicate field name: {clean}")
            seen.add(f.name)
            if f.name == "Id":
                if self.operation in ("update", "delete") or (self.ext and self.ext.name == "Id"):
                    self.key_index = i
                    continue
                raise JobFailed(f"InvalidBatch : Field name not found : {clean}")  # Id on insert/upsert
            if self.operation == "delete":
                raise JobFailed("InvalidBatch : The 'delete' batch must contain only the 'Id' field")
            if self.ext and f.name == self.ext.name:
                self.key_index = i
            prefix = self.jobs.records.ref_prefix(f)
            self.columns.append((i, f, F.csv_converter(f, prefix)))
        self._require_key()

    def _require_key(self) -> None:
        """Update and delete need the Id column, upsert the external id's."""
        if self.key_index is not None or self.operation == "insert":
            return
        if self.operation == "upsert":
            assert self.ext is not None
            raise JobFailed(f"InvalidBatch : Field name not found : {self.ext.name}")
        raise JobFailed("InvalidBatch : Field name not found : Id")

    def run(self) -> tuple[int, int, bool]:
        """Process every row; returns (processed, failed, aborted)."""
        processed = failed = 0
        aborted = False
        job_id = self.info["id"]
        header_csv = _csv_line(self.header)
        ok_tmp, bad_tmp, un_tmp = (self.dir / f"{n}.tmp" for n in ("success", "failed", "unprocessed"))
        with (
            self._open() as fh,
            open(ok_tmp, "w", encoding="utf-8", newline="") as ok_fh,
            open(bad_tmp, "w", encoding="utf-8", newline="") as bad_fh,
        ):
            ok_fh.write('"sf__Id","sf__Created",' + header_csv)
            bad_fh.write('"sf__Id","sf__Error",' + header_csv)
            ok_w = csv.writer(ok_fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
            bad_w = csv.writer(bad_fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
            reader = self._reader(fh)
            next(reader)
            batch: list[list[str]] = []
            for row in reader:
                if not row or row == [""]:
                    continue
                batch.append(row)
                if len(batch) == BATCH_SIZE:
                    if self.jobs._state(job_id) != "InProgress":
                        aborted = True
                        break
                    p, f = self._batch(batch, ok_w, bad_w)
                    processed, failed, batch = processed + p, failed + f, []
                    # as Salesforce does: the job's counts move while it runs, batch by batch
                    self.jobs._update(job_id, numberRecordsProcessed=processed, numberRecordsFailed=failed)
            if aborted:
                with open(un_tmp, "w", encoding="utf-8", newline="") as un_fh:
                    un_fh.write(header_csv)
                    un_w = csv.writer(un_fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
                    un_w.writerows(batch)
                    un_w.writerows(r for r in reader if r and r != [""])
            elif batch:
                if self.jobs._state(job_id) != "InProgress":
                    aborted = True
                    with open(un_tmp, "w", encoding="utf-8", newline="") as un_fh:
                        un_fh.write(header_csv)
                        csv.writer(un_fh, lineterminator="\n").writerows(batch)
                else:
                    p, f = self._batch(batch, ok_w, bad_w)
                    processed, failed = processed + p, failed + f
        if not aborted:
            with open(un_tmp, "w", encoding="utf-8", newline="") as un_fh:
                un_fh.write(header_csv)
        for tmp, name in ((ok_tmp, "success.csv"), (bad_tmp, "failed.csv"), (un_tmp, "unprocessed.csv")):
            os.replace(tmp, self.dir / name)
        return processed, failed, aborted

    def _convert(self, row: list[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for i, f, conv in self.columns:
            cell = row[i]
            if cell == "":
                continue
            if cell == F.NULL_MARKER:
                values[f.name] = 0 if f.type == "boolean" else None
                continue
            values[f.name] = conv(cell)
        return values

    def _batch(self, rows: list[list[str]], ok_w: Any, bad_w: Any) -> tuple[int, int]:
        """Write one batch (one SQLite transaction); its rows go to the success or failed results."""
        batch = _Batch(self, rows)
        batch.prepare()
        with self.jobs.store.transaction():
            batch.classify(batch.existing_ids())
            batch.check_references()
            now = F.now_sf()
            batch.insert(now)
            batch.update_or_delete(now)
        return len(rows), batch.write_results(ok_w, bad_w)


class _Batch:
    """One batch of a job's rows, taken through named steps; ``errors[n]`` is row n's failure.

    prepare (key and values of each row) -> existing_ids (one lookup) -> classify (insert or update,
    lock-row fault, required fields) -> check_references -> insert / update_or_delete -> write_results.
    """

    def __init__(self, plan: _Plan, rows: list[list[str]]) -> None:
        self.plan = plan
        self.obj = plan.obj
        self.store = plan.jobs.store
        self.operation = plan.operation
        self.rows = rows
        self.errors: list[F.FieldError | None] = [None] * len(rows)
        self.values: list[dict[str, Any]] = [{}] * len(rows)
        self.keys: list[str] = [""] * len(rows)  # the external id or record id a row names
        self.ids: list[str] = [""] * len(rows)  # the record id a row wrote
        self.inserts: list[int] = []
        self.updates: list[int] = []  # rows that update (or delete) an existing record

    @property
    def by_id(self) -> bool:
        return self.operation in ("update", "delete")

    def _live(self, candidates: list[int]) -> list[int]:
        return [n for n in candidates if self.errors[n] is None]

    # -- steps --------------------------------------------------------------------------------

    def prepare(self) -> None:
        for n, row in enumerate(self.rows):
            try:
                if self.plan.key_index is not None:
                    self._read_key(n, row[self.plan.key_index])
                if self.operation != "delete":
                    self.values[n] = self.plan._convert(row)
            except F.FieldError as row_error:
                self.errors[n] = row_error

    def _read_key(self, n: int, cell: str) -> None:
        """Row n's key: its external id, or (update, delete) its record id checked and made 18 long."""
        self.keys[n] = key = cell.strip()
        if self.operation == "upsert" and key.lower() in self.plan.duplicates:
            raise F.FieldError("DUPLICATE_VALUE", f"Duplicate external id specified: {key}")
        if not self.by_id:
            return
        if not key:
            raise F.FieldError("MISSING_ARGUMENT", f"Id not specified in an {self.operation} call")
        self.keys[n] = rid = self.plan.jobs.records._collection_id(key)
        if rid[:3] != self.obj.key_prefix:
            raise F.FieldError("MALFORMED_ID", f"Id value of incorrect type: {cell}", ["Id"])

    def existing_ids(self) -> dict[str, str]:
        """Lower-cased key -> record id, for the keys of rows still alive."""
        keys = (self.keys[n] for n in self._live(list(range(len(self.rows)))))
        if self.operation == "upsert":
            assert self.plan.ext is not None
            found = self.store.find_ids(self.obj, self.plan.ext, (k for k in keys if k))
            return {k: v[0] for k, v in found.items()}
        if self.by_id:
            return {k.lower(): k for k in self.store.existing_ids(self.obj, keys)}
        return {}

    def classify(self, existing: dict[str, str]) -> None:
        locking = self.plan.jobs.faults.locking_rows
        for n in self._live(list(range(len(self.rows)))):
            try:
                self._classify_row(n, existing, locking)
            except F.FieldError as row_error:
                self.errors[n] = row_error

    def _classify_row(self, n: int, existing: dict[str, str], locking: bool) -> None:
        rid = self._record_of(n, existing, locking)
        inserting = rid is None and self.operation in ("insert", "upsert")
        if inserting:
            self.inserts.append(n)
        else:
            self.updates.append(n)
            self.ids[n] = rid or ""
        missing = _missing_required(self.obj, self.values[n], inserting)
        if missing:
            message = f"Required fields are missing: [{', '.join(missing)}]"
            raise F.FieldError("REQUIRED_FIELD_MISSING", message, missing)

    def _record_of(self, n: int, existing: dict[str, str], locking: bool) -> str | None:
        """The existing record row n writes (None: a new one); a row whose record cannot be had fails."""
        key, ext = self.keys[n], self.plan.ext
        rid = existing.get(key.lower()) if key else None
        if self.by_id and rid is None:
            raise F.FieldError("ENTITY_IS_DELETED", "entity is deleted")
        if self.operation == "upsert" and not key and ext and ext.name != "Id":
            raise F.FieldError("MISSING_ARGUMENT", f"{ext.name} not specified")
        if locking and self.plan.jobs.faults.lock_row(key or str(n)):
            raise lock_row_error(rid or "")
        return rid

    def check_references(self) -> None:
        """Lookups must name existing records of their object; then only rows still alive go on."""
        if self.operation != "delete":
            candidates = self._live(self.inserts + self.updates)
            found = self.plan.jobs.records.check_references(self.obj, [self.values[n] for n in candidates])
            for n, err in zip(candidates, found, strict=True):
                if err:
                    self.errors[n] = err
        self.inserts, self.updates = self._live(self.inserts), self._live(self.updates)

    def insert(self, now: str) -> None:
        if not self.inserts:
            return
        new_ids = self.store.allocate_ids(self.obj, len(self.inserts))
        prepared = [
            self.store.prepare_insert(self.obj, self.values[n], rid, now)
            for n, rid in zip(self.inserts, new_ids, strict=True)
        ]
        results = self.store.insert_many(self.obj, prepared)
        for n, rid, err in zip(self.inserts, new_ids, results, strict=True):
            if err:
                self.errors[n] = err
            else:
                self.ids[n] = rid

    def update_or_delete(self, now: str) -> None:
        if not self.updates:
            return
        if self.operation == "delete":
            self.store.delete_many(self.obj, [self.ids[n] for n in self.updates])
            return
        ext = self.plan.ext
        work = []
        for n in self.updates:
            values = self.values[n]
            if ext and ext.name in values:
                values = {k: v for k, v in values.items() if k != ext.name}
            if values:  # a row that only names its record changes nothing
                work.append((n, (self.ids[n], values)))
        results = self.store.update_many(self.obj, [w for _, w in work], now) if work else []
        for (n, _), err in zip(work, results, strict=True):
            if err:
                self.errors[n] = err

    def write_results(self, ok_w: Any, bad_w: Any) -> int:
        """Each row to the success or the failed results, in upload order; the number failed."""
        inserted = set(self.inserts)
        failed = 0
        for n, row in enumerate(self.rows):
            err = self.errors[n]
            if err is None:
                ok_w.writerow([self.ids[n], "true" if n in inserted else "false", *row])
            else:
                failed += 1
                shown_id = self.keys[n] if self.by_id else ""
                bad_w.writerow([shown_id, err.as_bulk(), *row])
        return failed


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


def _missing_required(obj: ObjectDef, values: dict[str, Any], inserting: bool) -> list[str]:
    """Required fields left empty: on insert every one not given, on update every one set to null."""
    return [
        f.name
        for f in obj.fields.values()
        if f.required and (inserting or f.name in values) and values.get(f.name) is None
    ]


def _csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()
