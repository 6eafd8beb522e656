"""What the steps of one run leave for each other in the staging bucket, as typed records.

- :class:`StagedPage` — the report rows of one page (CheckReport → TransformPage);
- :class:`StagedClaim` — a claim to send, in normalised form, one JSON line each, per page, in Bulk
  order (TransformPage → StartUpload / CheckUpload). Bulk CSV or Collections JSON is chosen only at the
  Salesforce call, each by its own encoder (``claimsync.bulk_csv``, ``claimsync.sobject_json``);
- :class:`PageOutcome` — the counts, rejects and unmapped payers of one page (TransformPage →
  FinishRun).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from claimsync.report import SourceRow
from claimsync.transform import ClaimRecord, Rejected


@dataclass
class StagedPage:
    """One page of report rows as staged by CheckReport: JSON Lines ``[row number, row]`` or
    ``[row number, row, [columns whose text the reader repaired]]`` (``claimsync.text``)."""

    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    invalid_text: dict[int, list[str]] = field(default_factory=dict)

    @staticmethod
    def line(row_number: int, row: SourceRow) -> bytes:
        item: list[Any] = [row_number, row.values]
        if row.invalid_text:
            item.append(list(row.invalid_text))
        return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"

    @classmethod
    def from_lines(cls, body: bytes) -> StagedPage:
        page = cls()
        for line in body.splitlines():
            if line:
                item = json.loads(line)
                page.rows.append((int(item[0]), item[1]))
                if len(item) > 2:
                    page.invalid_text[int(item[0])] = list(item[2])
        page.rows.sort(key=lambda r: r[0])  # row order: "the last row of a claim wins"
        return page


@dataclass(frozen=True, slots=True)
class StagedClaim:
    """A normalised claim to send: Salesforce field → Bulk CSV form (None: no value, clears the field)."""

    claim_number: str
    payor_record_id: str | None
    fields: dict[str, str | None]

    @classmethod
    def of(cls, record: ClaimRecord) -> StagedClaim:
        return cls(record.claim_number, record.payor_record_id, record.fields)

    def bulk_order(self) -> tuple[bool, str, str]:
        """By parent payor (unmapped first), then claim number: one parent stays contiguous."""
        return (self.payor_record_id is not None, self.payor_record_id or "", self.claim_number)


def encode_claims(claims: Iterable[StagedClaim]) -> bytes:
    """JSON Lines, one claim per line."""
    return b"".join(
        json.dumps(
            {"claim": c.claim_number, "payor": c.payor_record_id, "fields": c.fields},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        + b"\n"
        for c in claims
    )


def decode_claims(lines: Iterable[bytes]) -> Iterator[StagedClaim]:
    for line in lines:
        if line.strip():
            doc = json.loads(line)
            yield StagedClaim(doc["claim"], doc["payor"], doc["fields"])


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
