"""What the steps of one run leave for each other in the staging bucket, as typed records.

- :class:`StagedPage` — the report rows of one page (CheckReport → TransformPage);
- :class:`StagedClaim` — a claim to send, in normalised form, one JSON line each, per page, in Bulk
  order (TransformPage → StartUpload / CheckUpload): ``[order, payor, claim, columns, "csv"]``, the
  claim's Bulk CSV line (``claimsync.bulk_csv.BulkRows``: the values in the mapping's column order,
  ``#N/A`` for none, then the run id) made by TransformPage on the Map's cores, so that StartUpload
  only joins lines. Collections JSON reads the values back from the line
  (``StagedClaim.values``, ``claimsync.sobject_json``);
- :class:`PageOutcome` — the counts, rejects and unmapped payers of one page (TransformPage →
  FinishRun).
"""

from __future__ import annotations

import contextlib
import heapq
import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from claimsync import layout
from claimsync.bulk_csv import BulkRows, DuplicateExternalIdError, line_values
from claimsync.errors import ClaimsyncError
from claimsync.report import SourceRow
from claimsync.staging import Staging, claim_bucket, each_overlapped
from claimsync.steps.contract import from_payload
from claimsync.steps.deps import Deps
from claimsync.transform import ClaimRecord, Rejected, external_id_key

# One encoder for every line: json.dumps with options builds a new encoder per call (a few µs a row).
_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass
class StagedPage:
    """One page of report rows as staged by CheckReport: JSON Lines ``[row number, row]`` or
    ``[row number, row, [columns whose text the reader repaired]]`` (``claimsync.text``)."""

    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    invalid_text: dict[int, list[str]] = field(default_factory=dict)

    @staticmethod
    def line(row_number: int, row: SourceRow) -> bytes:
        if row.json_text is not None:  # the row as the report wrote it: decodes to ``row.values``
            return f"[{row_number},{row.json_text}]\n".encode()
        item: list[Any] = [row_number, row.values]
        if row.invalid_text:
            item.append(list(row.invalid_text))
        return _LINE(item).encode("utf-8") + b"\n"

    @classmethod
    def from_lines(cls, body: bytes) -> StagedPage:
        page = cls()
        # One JSON array of the page's lines, decoded in one call: the decoder then shares the keys
        # of the rows (one string per column name), which makes the rows cheaper to build and to read.
        lines = b",".join(line for line in body.split(b"\n") if line.strip())
        for item in json.loads((b"[%b]" % lines).decode("utf-8")):  # str: bytes would be sniffed
            page.rows.append((int(item[0]), item[1]))
            if len(item) > 2:
                page.invalid_text[int(item[0])] = list(item[2])
        page.rows.sort(key=lambda r: r[0])  # row order: "the last row of a claim wins"
        return page


class StagedFileError(ClaimsyncError):
    """A staged claims file does not fit the run's mapping (its rows have another number of values)."""


class StagedClaim(NamedTuple):
    """A normalised claim to send, as its Bulk CSV line (``BulkRows.line``: the values in the mapping's
    column order, ``ClaimMapping.columns``, then the run id). A named tuple: a run makes one per claim
    sent, twice (TransformPage, StartUpload), and a frozen dataclass takes three times as long to make."""

    claim_number: str
    payor_record_id: str | None
    csv: str

    @classmethod
    def of(cls, record: ClaimRecord, rows: BulkRows) -> StagedClaim:
        return cls(record.claim_number, record.payor_record_id, rows.line(record.fields.values()))

    @property
    def values(self) -> tuple[str | None, ...]:
        """The values in the mapping's column order (None: no value, clears the field)."""
        return line_values(self.csv)

    def bulk_order(self) -> tuple[int, str, str]:
        """By parent payor (unmapped first), then claim number: one parent stays contiguous."""
        return (0 if self.payor_record_id is None else 1, self.payor_record_id or "", self.claim_number)


# A staged line is ``[order, payor, claim, columns, "csv"]``: ``bulk_order()``, the mapping's column
# count when it was written, and the CSV line, so decoded lines merge in Bulk order by plain list
# comparison (no key function per claim; the ids are unique, so nothing after the claim is compared)
# and a line decodes as four scalars and one string, not one string per value.


def encode_claims(claims: Iterable[StagedClaim], columns: int) -> bytes:
    """JSON Lines, one claim per line; a page's claims hold each external id once (checked here).
    ``columns``: the mapping's column count, which every line carries (``page_claims`` checks it)."""
    claims = list(claims)
    if len({external_id_key(c.claim_number) for c in claims}) != len(claims):
        # No claim numbers in the message: keep record identifiers out of logs and alarms.
        raise DuplicateExternalIdError("a page's changed claims repeat an external id")
    return "".join(_LINE([*c.bulk_order(), columns, c.csv]) + "\n" for c in claims).encode("utf-8")


def _claim(item: list[Any], width: int) -> StagedClaim:
    flag, payor, claim, columns, line = item
    if columns != width:
        raise StagedFileError(f"a staged claim has {columns} values, the mapping {width} columns")
    return StagedClaim(claim, payor if flag else None, line)


def _page_items(lines: Iterable[bytes], page: int, page_count: int) -> Iterator[list[Any]]:
    for line in lines:
        if line.strip():
            item = json.loads(line.decode("utf-8"))  # str: json.loads of bytes first guesses their encoding
            if claim_bucket(external_id_key(item[2]), page_count) != page:
                raise DuplicateExternalIdError(f"page {page} holds a claim of another page")
            yield item


def page_claims(lines: Iterable[bytes], page: int, page_count: int, width: int) -> Iterator[StagedClaim]:
    """A page's staged claims, each checked to be in the page its external id hashes to. Then no id
    can be in two pages, and with :func:`encode_claims` refusing a repeat within a page, claims merged
    from pages hold each external id once however many there are, without remembering the ids."""
    for item in _page_items(lines, page, page_count):
        yield _claim(item, width)


@dataclass(frozen=True)
class RejectReason:
    code: str
    column: str | None = None


@dataclass(frozen=True)
class Reject:
    row_number: int
    claim_id: str | None
    reasons: tuple[RejectReason, ...]

    @classmethod
    def of(cls, rejected: Rejected) -> Reject:
        return cls(
            rejected.row_number,
            rejected.claim_id,
            tuple(RejectReason(r.code, r.column) for r in rejected.reasons),
        )

    def codes(self) -> str:
        """``CODE:column;CODE`` as the rejects report writes them."""
        return ";".join(r.code if r.column is None else f"{r.code}:{r.column}" for r in self.reasons)


@dataclass(frozen=True)
class UnmappedPayer:
    payer_id: str
    payer_name: str
    claims: int


@dataclass(frozen=True)
class PageOutcome:
    page: int
    rows: int
    sent: int
    new: int
    unchanged: int
    rejected: int
    rejects: tuple[Reject, ...] = ()
    unmapped: tuple[UnmappedPayer, ...] = ()

    @property
    def changed(self) -> int:
        return self.sent - self.new


# -- reading what the steps staged ----------------------------------------------------------------


def page_outcome(staging: Staging, run_id: str, page: int) -> PageOutcome:
    return from_payload(PageOutcome, staging.get_json(layout.page_outcome_key(run_id, page)))


def sent_by_page(deps: Deps, run_id: str, page_count: int) -> dict[int, int]:
    """Page → claims it staged to send, read one outcome at a time: an outcome also holds its page's
    rejects (3 % of a report), and holding all of them grew StartUpload with the run (71 -> 87 MB
    from 100k to 1M claims)."""
    staging = deps.staging  # resolved here, not by each thread

    def sent(page: int) -> int:  # the count only: the rejects are not made into objects
        return int(staging.get_json(layout.page_outcome_key(run_id, page))["sent"])

    return dict(enumerate(each_overlapped(sent, range(page_count))))


def staged_claims(deps: Deps, run_id: str, pages: Iterable[int], page_count: int) -> Iterator[StagedClaim]:
    """The staged claims of ``pages`` merged in Bulk order (each page's file already is), read from
    local copies line by line: memory holds one claim per page, whatever the size of the upload.
    Each page's claims are checked to belong to it (``_page_items``): the ids are unique, so two
    lines never compare equal up to their values."""
    width, staging = len(deps.mapping.columns), deps.staging
    with contextlib.ExitStack() as stack:
        pages = list(pages)
        spools = [stack.enter_context(tempfile.TemporaryFile(prefix="changes-")) for _ in pages]

        def download(i: int) -> None:
            staging.download_to(layout.changes_key(run_id, pages[i]), spools[i])
            spools[i].seek(0)

        for _ in each_overlapped(download, range(len(pages))):
            pass
        streams = [_page_items(spool, page, page_count) for spool, page in zip(spools, pages, strict=True)]
        for item in heapq.merge(*streams):
            yield _claim(item, width)
