"""Bulk API 2.0 ingest CSV for ``Claim__c`` upserts (salesforce.md §3).

UTF-8 (no byte-order mark), comma, LF line endings, a header of field API names
(``mapping.columns`` then the run field), values quoted only when they contain a comma, a quote, CR
or LF (quotes doubled). ``None`` is written as ``#N/A``: an empty value would be *ignored* on update,
``#N/A`` clears the field. The sync run's id fills the run field of every row.

A job must never hold the same external id twice (``DUPLICATE_VALUE``), so the writers refuse such
input; and rows are sorted by their parent payor so one parent's rows are contiguous, which keeps
Salesforce's parallel internal batches from fighting over the parent's lock (``UNABLE_TO_LOCK_ROW``).
"""

from __future__ import annotations

import csv
import io
import itertools
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, BinaryIO, Final, Protocol

from claimsync.errors import ClaimsyncError
from claimsync.mapping import ClaimMapping
from claimsync.transform import ClaimRecord, external_id_key
from claimsync.values import NULL_MARKER

NULL: Final = NULL_MARKER
MAX_JOB_BYTES: Final = 100_000_000  # about 150 MB once base64-encoded: the per-upload limit


class DuplicateExternalIdError(ClaimsyncError, ValueError):
    """The same external id (ignoring case, see external_id_key) appears twice in one Bulk job."""


def header(mapping: ClaimMapping) -> list[str]:
    return [*mapping.columns, mapping.run_field.field]


def sort_for_bulk(records: Iterable[ClaimRecord]) -> list[ClaimRecord]:
    """By parent payor (unmapped, i.e. None, first), then claim number: one parent stays contiguous."""
    return sorted(
        records,
        key=lambda r: (r.payor_record_id is not None, r.payor_record_id or "", r.claim_number),
    )


def _check_run_id(run_id: str, mapping: ClaimMapping) -> None:
    if not run_id or len(run_id) > mapping.run_field.length:
        raise ValueError(f"run_id must be 1 to {mapping.run_field.length} characters")


def _duplicates(claim_numbers: Iterable[str]) -> int:
    seen: set[str] = set()
    repeats = 0
    for claim_number in map(external_id_key, claim_numbers):
        if claim_number in seen:
            repeats += 1
        else:
            seen.add(claim_number)
    return repeats


def _raise_duplicates(repeats: int) -> None:
    # No claim numbers in the message: keep record identifiers out of logs and alarms.
    raise DuplicateExternalIdError(f"{repeats} repeated external id(s): a Bulk job must hold each id once")


class BulkRows:
    """Encodes records as Bulk CSV lines: the mapping's columns, then the run id."""

    def __init__(self, mapping: ClaimMapping, run_id: str) -> None:
        _check_run_id(run_id, mapping)
        self._columns = mapping.columns
        self._run_id = run_id
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        self.header = header_line(mapping).encode("utf-8")

    def line(self, values: Iterable[str | None]) -> str:
        """One record's line (newline-terminated) from its values in the mapping's column order: what
        ``csv.writer`` (QUOTE_MINIMAL) writes. The usual line has no value to quote, which shows in the
        joined text (no quote, CR or LF, one comma per separator): it is taken as joined, four times
        cheaper than the writer; any other goes through the writer."""
        row = [NULL if value is None else value for value in values]
        row.append(self._run_id)
        joined = ",".join(row)
        if (
            '"' not in joined
            and "\n" not in joined
            and "\r" not in joined
            and joined.count(",") == len(row) - 1
        ):
            return joined + "\n"
        self._writer.writerow(row)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text

    def encode(self, record: ClaimRecord) -> bytes:
        fields = record.fields
        return self.line([fields[column] for column in self._columns]).encode("utf-8")


def header_line(mapping: ClaimMapping) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerow(header(mapping))
    return buffer.getvalue()


def line_values(line: str) -> tuple[str | None, ...]:
    """The values of a line :meth:`BulkRows.line` wrote (the run id left out; ``#N/A``: None). Exact:
    a value is never ``#N/A`` as text (``claimsync.values`` rejects it, RESERVED_VALUE)."""
    fields = next(csv.reader([line], strict=True))
    return tuple(None if value == NULL else value for value in fields[:-1])


def write_bulk_csv(records: Iterable[ClaimRecord], mapping: ClaimMapping, run_id: str, out: BinaryIO) -> int:
    """Write one Bulk CSV document (header + a line per record) to ``out``; returns the bytes written.

    Raises DuplicateExternalIdError (before writing anything) when a claim number repeats.
    """
    rows = BulkRows(mapping, run_id)
    records = list(records)
    repeats = _duplicates(record.claim_number for record in records)
    if repeats:
        _raise_duplicates(repeats)
    written = out.write(rows.header)
    for record in records:
        written += out.write(rows.encode(record))
    return written


class Lined(Protocol):
    @property
    def claim_number(self) -> str: ...

    @property
    def csv(self) -> str:
        """The record's Bulk CSV line (``BulkRows.line``)."""
        ...


BLOCK: Final = 500  # records joined per write


def bulk_documents(
    claims: Iterable[Lined],
    mapping: ClaimMapping,
    max_bytes: int = MAX_JOB_BYTES,
    *,
    ids_checked: bool = False,
) -> Iterator[tuple[IO[bytes], int]]:
    """Bulk CSV documents of at most ``max_bytes`` each (header repeated), one per Bulk job, each
    written to a spool file: ``(file at its start, records)``. A document is valid until the next
    one is asked for (its file is then closed). Each claim carries its line already (TransformPage
    encoded it, on the Map's cores): a document is the header and the lines, joined.

    The whole upload is checked to hold each external id once (``DuplicateExternalIdError`` before
    the document holding the repeat is handed out), which remembers every id — unless the caller
    has proved it (``ids_checked``): StartUpload reads claims through ``steps.staged.page_claims``,
    whose proof needs no memory per claim, so a million-claim upload costs what a small one does.

    Lines are written a block at a time; a block that would cross a document's limit is taken
    record by record, so each document is as full as the limit allows.
    """
    head = header_line(mapping).encode("utf-8")
    seen: set[str] = set()
    spool: IO[bytes] | None = None
    size = records = 0
    try:
        for block in _blocks(claims):
            if not ids_checked:
                for claim in block:
                    key = external_id_key(claim.claim_number)
                    if key in seen:
                        _raise_duplicates(1)
                    seen.add(key)
            text = "".join([claim.csv for claim in block]).encode("utf-8")
            if spool is not None and size + len(text) <= max_bytes:
                spool.write(text)
                size += len(text)
                records += len(block)
                continue
            for claim in block:
                line = claim.csv.encode("utf-8")
                if len(head) + len(line) > max_bytes:
                    raise ValueError("one record does not fit in a Bulk job")
                if spool is not None and size + len(line) > max_bytes:
                    spool.seek(0)
                    yield spool, records
                    spool.close()
                    spool = None
                if spool is None:
                    spool = tempfile.TemporaryFile(prefix="bulk-")  # noqa: SIM115 - closed in finally / on the next
                    size, records = spool.write(head), 0
                spool.write(line)
                size += len(line)
                records += 1
        if spool is not None:
            spool.seek(0)
            yield spool, records
    finally:
        if spool is not None:
            spool.close()


def _blocks(claims: Iterable[Lined]) -> Iterator[tuple[Lined, ...]]:
    iterator = iter(claims)
    while block := tuple(itertools.islice(iterator, BLOCK)):
        yield block
