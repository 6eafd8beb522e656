"""Processing one Bulk API 2.0 ingest job's rows: ``Plan`` checks the upload (line ending, header,
column counts, repeated external ids), then writes it in batches of 10,000 rows, each one SQLite
transaction taken through the named steps of ``_Batch``. The upload is read twice (the check pass,
then the write pass), so memory stays flat whatever the file size.

The write pass runs by ``Part``: a stretch of the upload's rows that one process writes, as
Salesforce splits a job into chunks it processes in parallel. The check pass notes where every
``every`` rows start; a part's results go to files of its own (``<kind>.<part>.part``) that
``assemble_results`` joins, in upload order, once every part is done.

Semantics that matter to clients (and that the emulator keeps faithfully):
- an empty cell is ignored on update and null on insert; ``#N/A`` sets null;
- an external id repeated in one job fails every row that carries it
  (``DUPLICATE_VALUE:Duplicate external id specified: <value>:--``);
- an unknown column or a malformed CSV fails the whole job (``JobFailed``, an ``errorMessage``);
- row order in the result files follows the upload, which real Salesforce does not promise.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from local.salesforce_emulator import fields as F
from local.salesforce_emulator.records import lock_row_error
from local.salesforce_emulator.schema import FieldDef, ObjectDef

if TYPE_CHECKING:
    from local.salesforce_emulator.bulk import BulkJobs

BATCH_SIZE = 10_000
MEMO_CELLS = 4096  # distinct cells remembered per column: dates, amounts, codes and lookups repeat
_MISS = object()
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}


RESULT_KINDS = ("success", "failed", "unprocessed")  # results file names, without ".csv"


class JobFailed(Exception):
    """The whole job fails with this ``errorMessage``."""


@dataclass(frozen=True)
class Part:
    """A stretch of a job's rows, written by one process: the ``rows`` rows from text position
    ``start`` of the upload (``TextIOWrapper.tell``; the first part's starts after the header)."""

    index: int
    start: int
    rows: int


def split(starts: list[int], every: int, total: int, parts: int) -> list[Part]:
    """``total`` rows whose stretches of ``every`` rows start at ``starts``, in at most ``parts``
    parts of whole stretches, as even as they go."""
    per_part = max(1, math.ceil(len(starts) / parts))
    return [
        Part(index, starts[first], min(total, (first + per_part) * every) - first * every)
        for index, first in enumerate(range(0, len(starts), per_part))
    ]


def assemble_results(job_dir: Path, parts: int) -> None:
    """Each results file from its parts' files, in part order (the first part's holds the header)."""
    for kind in RESULT_KINDS:
        first = job_dir / f"{kind}.0.part"
        with open(first, "ab") as out:
            for index in range(1, parts):
                piece = job_dir / f"{kind}.{index}.part"
                with open(piece, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                piece.unlink()
        os.replace(first, job_dir / f"{kind}.csv")


def discard_parts(job_dir: Path) -> None:
    for piece in job_dir.glob("*.part"):
        piece.unlink(missing_ok=True)


class Plan:
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
        # (index, field name, converter, memo of converted cells or None, what #N/A sets, the length a
        # plain text cell is taken as it is up to: -1 when its converter must see every cell) per column
        self.columns: list[tuple[int, str, Any, dict[str, Any] | None, Any, int]] = []
        self.required = [f.name for f in self.obj.fields.values() if f.required]
        self.key_index: int | None = None
        self.duplicates: set[str] = set()

    def _reader(self, fh: Iterable[str]) -> Iterator[list[str]]:
        return csv.reader(fh, delimiter=self.delimiter, strict=True)

    def _open(self) -> IO[str]:
        return open(self.upload, encoding="utf-8-sig", newline="")

    def check(self, every: int = BATCH_SIZE) -> tuple[list[int], int]:
        """The upload checked whole (line ending, header, column counts, repeated external ids):
        the text positions where each stretch of ``every`` rows starts, and the number of rows."""
        with open(self.upload, "rb") as raw:
            first = raw.readline()
        crlf = first.endswith(b"\r\n")
        if crlf != (self.info["lineEnding"] == "CRLF"):
            raise JobFailed(
                "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is "
                f"{self.info['lineEnding']}"
            )
        starts: list[int] = []
        rows = 0
        try:
            with self._open() as fh:
                reader = self._reader(iter(fh.readline, ""))  # readline, not next(): fh.tell() works
                header = next(reader, None)
                if not header or header == [""]:
                    raise JobFailed("InvalidBatch : Failed to parse CSV header: the file is empty")
                self._map_header(header)
                counts: dict[str, int] = {}
                width = len(header)
                ki = self.key_index
                at = fh.tell()  # where the next row starts
                for line_no, row in enumerate(reader, start=2):
                    if len(row) != width:
                        if row == [] or row == [""]:
                            at = fh.tell()
                            continue
                        raise JobFailed(
                            f"InvalidBatch : Wrong number of columns in row {line_no}: "
                            f"expected {width}, found {len(row)}"
                        )
                    if rows % every == 0:
                        starts.append(at)
                    rows += 1
                    if rows % every == 0:
                        at = fh.tell()
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
        return starts or [at], rows

    def read_header(self) -> None:
        """The header mapped, for a process that writes a part of an upload already checked."""
        with self._open() as fh:
            self._map_header(next(self._reader(fh)))

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
            null = 0 if f.type == "boolean" else None
            plain = f.type in ("string", "textarea") and not f.restricted  # its cells are mostly unique
            limit = f.length if f.type == "string" and plain and f.length is not None else -1
            self.columns.append((i, f.name, F.csv_converter(f, prefix), None if plain else {}, null, limit))
        self._require_key()

    def _require_key(self) -> None:
        """Update and delete need the Id column, upsert the external id's."""
        if self.key_index is not None or self.operation == "insert":
            return
        if self.operation == "upsert":
            assert self.ext is not None
            raise JobFailed(f"InvalidBatch : Field name not found : {self.ext.name}")
        raise JobFailed("InvalidBatch : Field name not found : Id")

    def run(self, part: Part) -> tuple[int, int, bool]:
        """Write the part's rows, batch by batch, each batch's counts added to the job's as it is
        done; returns (processed, failed, aborted). A job no longer ``InProgress`` (aborted) stops
        at the next batch: the part's rows not written go to its unprocessed records."""
        processed = failed = 0
        aborted = False
        job_id = self.info["id"]
        header_csv = _csv_line(self.header)
        ok_path, bad_path, un_path = (self.dir / f"{kind}.{part.index}.part" for kind in RESULT_KINDS)
        with (
            self._open() as fh,
            open(ok_path, "w", encoding="utf-8", newline="") as ok_fh,
            open(bad_path, "w", encoding="utf-8", newline="") as bad_fh,
            open(un_path, "w", encoding="utf-8", newline="") as un_fh,
        ):
            if part.index == 0:
                ok_fh.write('"sf__Id","sf__Created",' + header_csv)
                bad_fh.write('"sf__Id","sf__Error",' + header_csv)
                un_fh.write(header_csv)
            ok_w = csv.writer(ok_fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
            bad_w = csv.writer(bad_fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
            fh.seek(part.start)
            rows = _rows(self._reader(fh), part.rows)
            while batch := list(itertools.islice(rows, BATCH_SIZE)):
                if self.jobs._state(job_id) != "InProgress":
                    aborted = True
                    un_w = csv.writer(un_fh, lineterminator="\n")
                    un_w.writerows(batch)
                    un_w.writerows(rows)
                    break
                p, f = self._batch(batch, ok_w, bad_w)
                processed, failed = processed + p, failed + f
        return processed, failed, aborted

    def _convert(self, row: list[str]) -> dict[str, Any]:
        """Row values by field name (the hot loop of an ingest: a cell seen before is a dict hit).

        A cell that does not convert raises ``FieldError`` and is never remembered.
        """
        values: dict[str, Any] = {}
        for i, name, conv, memo, null, limit in self.columns:
            cell = row[i]
            if not cell:
                continue
            if memo is None:
                if len(cell) <= limit and cell != F.NULL_MARKER:
                    values[name] = cell  # what the string converter would answer, without the call
                else:
                    values[name] = null if cell == F.NULL_MARKER else conv(cell)
                continue
            value = memo.get(cell, _MISS)
            if value is _MISS:
                value = null if cell == F.NULL_MARKER else conv(cell)
                if len(memo) < MEMO_CELLS:
                    memo[cell] = value
            values[name] = value
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
            # as Salesforce does: the job's counts move while it runs, batch by batch, with its rows
            self.jobs._count(self.info["id"], len(rows), batch.failed())
        return len(rows), batch.write_results(ok_w, bad_w)


class _Batch:
    """One batch of a job's rows, taken through named steps; ``errors[n]`` is row n's failure.

    prepare (key and values of each row) -> existing_ids (one lookup) -> classify (insert or update,
    lock-row fault, required fields) -> check_references -> insert / update_or_delete -> write_results.
    """

    def __init__(self, plan: Plan, rows: list[list[str]]) -> None:
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
        missing = _missing_required(self.plan.required, self.values[n], inserting)
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
        prepared = self.store.prepare_inserts(self.obj, [self.values[n] for n in self.inserts], new_ids, now)
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

    def failed(self) -> int:
        return sum(1 for err in self.errors if err is not None)

    def write_results(self, ok_w: Any, bad_w: Any) -> int:
        """Each row to the success or the failed results, in upload order; the number failed."""
        inserted = set(self.inserts)
        errors, ids = self.errors, self.ids
        ok_w.writerows(
            [ids[n], "true" if n in inserted else "false", *row]
            for n, row in enumerate(self.rows)
            if errors[n] is None
        )
        failed = [(n, err) for n, err in enumerate(errors) if err is not None]
        bad_w.writerows(
            [self.keys[n] if self.by_id else "", err.as_bulk(), *self.rows[n]] for n, err in failed
        )
        return len(failed)


def _missing_required(required: list[str], values: dict[str, Any], inserting: bool) -> list[str]:
    """Required fields left empty: on insert every one not given, on update every one set to null."""
    return [name for name in required if (inserting or name in values) and values.get(name) is None]


def _rows(reader: Iterator[list[str]], count: int) -> Iterator[list[str]]:
    """The next ``count`` rows of ``reader``, blank lines skipped (they are not rows)."""
    if count <= 0:
        return
    for row in reader:
        if not row or row == [""]:
            continue
        yield row
        count -= 1
        if count == 0:
            return


def _csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()
