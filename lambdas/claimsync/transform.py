"""Claim transformation: report rows → normalised ``Claim__c`` records or rejects (salesforce.md §2).

The flow for one report (the state machine runs the first step once, the rest once per page):

1. :func:`find_superseded` over every (row number, ClaimID) of the whole report: the rows a later row
   with the same ClaimID replaces. They become ``DUPLICATE_CLAIM_ID`` rejects.
2. :meth:`claimsync.payors.PayorIndex.from_records` from the ``Payor_Mapping__c`` query.
3. :func:`transform_page` for each page: each row becomes a :class:`ClaimRecord` (with its fields in
   Bulk CSV string form and a content hash) or a :class:`Rejected` with all of its reasons.

Nothing here logs, and no exception message carries a row value: the rows are PHI. Exceptions are
for programming errors only; a bad row is a :class:`Rejected`, never an exception.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from claimsync.mapping import ClaimMapping, DateRange
from claimsync.payors import PayorIndex
from claimsync.values import INVALID_TEXT, InvalidValue

DUPLICATE_CLAIM_ID: Final = "DUPLICATE_CLAIM_ID"
INVALID_DATE_RANGE: Final = "INVALID_DATE_RANGE"
MISSING_COLUMN: Final = "MISSING_COLUMN"
"""The row has no such key at all (a JSON row without ``ClaimTotalAmount``, a CSV without the column).
Empty or null is a value ("clear the field"); absent is not, so the row is rejected, whichever row it is."""
MAPPED: Final = "Mapped"
UNMAPPED: Final = "Unmapped"

# Bump when the normalisation changes in a way that must resend everything once.
_HASH_VERSION: Final = b"claimsync.claim.v1\n"
HASH_LENGTH: Final = 32


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    column: str | None
    """The report column (as spelled in the mapping) the reason is about."""


@dataclass(frozen=True, slots=True)
class Rejected:
    row_number: int
    claim_id: str | None
    reasons: tuple[Reason, ...]


@dataclass(slots=True)
class ClaimRecord:
    claim_number: str
    fields: dict[str, str | None]
    """Every mapped Salesforce field except the run field, in Bulk CSV form; None = no value (#N/A)."""
    content_hash: str
    payor_mapped: bool
    payer_id: str
    payer_name: str
    payor_record_id: str | None = None
    """The resolved Claim_Payor__c id (also in ``fields``), the parent used by :func:`sort_for_bulk`."""


@dataclass(slots=True)
class PageResult:
    records: list[ClaimRecord] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    unmapped: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(payer id, payer name) → number of accepted claims whose payor is not mapped."""


# ------------------------------------------------------------------------------------------ duplicates


def claim_keys(
    rows: Iterable[tuple[int, Mapping[str, Any]]], mapping: ClaimMapping
) -> Iterator[tuple[int, str]]:
    """(row number, raw ClaimID) of each row, read through the mapping: the input of find_superseded."""
    index = mapping.key_index
    for row_number, row in rows:
        yield row_number, mapping.source_value(row, index)


def external_id_key(claim_number: str) -> str:
    """What makes two claim numbers the same Salesforce record.

    ``Claim_Number__c`` is a case-insensitive unique external id (``caseSensitive`` false in the
    metadata): ``abc1`` and ``ABC1`` upsert the same record, and both in one Bulk job would fail with
    DUPLICATE_VALUE. So duplicates are detected ignoring case.
    """
    return claim_number.lower()


def find_superseded(keys: Iterable[tuple[int, str | None]], max_length: int = 50) -> set[int]:
    """Row numbers replaced by a later row (higher row number) with the same trimmed ClaimID.

    ClaimIDs are compared with :func:`external_id_key` (ignoring case). Rows whose ClaimID is missing
    or longer than ``max_length`` (the key rule's length) are rejected for that reason instead and are
    not duplicates of each other. Memory: one dict entry per distinct ClaimID plus the superseded
    set, so a 500k-row report stays in the tens of MB.
    """
    last: dict[str, int] = {}
    superseded: set[int] = set()
    for row_number, raw in keys:
        if raw is None:
            continue
        key = raw.strip()
        if not key or len(key) > max_length:
            continue
        key = external_id_key(key)
        previous = last.setdefault(key, row_number)
        if previous == row_number:
            continue
        if row_number > previous:
            superseded.add(previous)
            last[key] = row_number
        else:
            superseded.add(row_number)
    return superseded


# ------------------------------------------------------------------------------------------- transform


@lru_cache(maxsize=16)
def _hasher_for(names: tuple[str, ...]) -> Any:
    """SHA-256 state after the version and the (sorted) field names: copied for each record."""
    digest = hashlib.sha256(_HASH_VERSION)
    digest.update("\x00".join(names).encode("utf-8"))
    digest.update(b"\x02")
    return digest


def _hash_values(names: tuple[str, ...], values: list[str | None]) -> str:
    digest = _hasher_for(names).copy()
    # Fast encoding: values joined by NUL, None as "" (a record never holds "": empty is None).
    joined = "\x00".join([value or "" for value in values])
    if "" in values or joined.count("\x00") != len(values) - 1:
        # A value that is "" or contains NUL would be ambiguous above: length-prefix everything.
        digest.update(b"L")
        joined = "".join("-" if value is None else f"{len(value)}:{value}" for value in values)
    else:
        digest.update(b"J")
    digest.update(joined.encode("utf-8", "surrogatepass"))
    return str(digest.hexdigest()[:HASH_LENGTH])


def content_hash(fields: Mapping[str, str | None]) -> str:
    """SHA-256 (first 32 hex digits) of the normalised record: field names and values, sorted by name.

    Independent of dict order; unambiguous (no value can imitate another field, a missing value or
    a different split between values); formatting-only differences never reach it because the
    values are already normalised.
    """
    names = tuple(sorted(fields))
    return _hash_values(names, [fields[name] for name in names])


def _unreadable(
    absent: Collection[int], mapping: ClaimMapping, invalid_text: Collection[str]
) -> tuple[set[int], list[Reason]]:
    """Mapped columns the row lacks (``absent``: MISSING_COLUMN) or whose text was not valid Unicode
    where the report was read (INVALID_TEXT, see ``claimsync.text``): their positions and reasons."""
    positions: set[int] = set()
    reasons: list[Reason] = []
    for code, found in (
        (MISSING_COLUMN, absent),
        (INVALID_TEXT, mapping.positions_of(invalid_text) if invalid_text else ()),
    ):
        for position in found:
            if position not in positions:
                positions.add(position)
                reasons.append(Reason(code, mapping.source_columns[position]))
    return positions, reasons


def transform_row(
    row: Mapping[str, str],
    row_number: int,
    mapping: ClaimMapping,
    payors: PayorIndex,
    invalid_text: Collection[str] = (),
) -> ClaimRecord | Rejected:
    """Validate and normalise one report row; a reject lists every reason found in the row.

    ``invalid_text``: the report columns whose value the reader had to repair (``claimsync.text``).
    """
    source, absent = mapping.read(row)
    fields, reasons = _convert(source, absent, mapping, invalid_text)
    if mapping.date_range is not None and _ends_before_start(fields, mapping.date_range):
        reason = Reason(INVALID_DATE_RANGE, mapping.date_range_column)
        reasons = [reason] if reasons is None else [*reasons, reason]
    if reasons is not None:
        return Rejected(row_number, source[mapping.key_index].strip() or None, tuple(reasons))
    return _accepted(source, fields, mapping, payors)


def _convert(
    source: Sequence[str], absent: Collection[int], mapping: ClaimMapping, invalid_text: Collection[str]
) -> tuple[dict[str, str | None], list[Reason] | None]:
    """Every field rule applied to the row's readable values (``absent``: the positions of the mapped
    columns the row lacks): the fields converted, and the reasons (None: none) — unreadable columns
    first, then each distinct conversion failure in rule order."""
    fields: dict[str, str | None] = {}
    reasons: list[Reason] | None = None
    skip: Container[int] = ()
    if invalid_text or absent:
        skip, found = _unreadable(absent, mapping, invalid_text)
        reasons = found or None
    for name, column, position, convert in mapping.steps:
        if position in skip:
            continue
        try:
            fields[name] = convert(source[position])
        except InvalidValue as exc:
            reason = Reason(exc.code, column)
            if reasons is None:
                reasons = [reason]
            elif reason not in reasons:  # e.g. one bad date column feeding a date and a checkbox
                reasons.append(reason)
    return fields, reasons


def _ends_before_start(fields: Mapping[str, str | None], date_range: DateRange) -> bool:
    start, end = fields.get(date_range.start_field), fields.get(date_range.end_field)
    # yyyy-MM-dd with 4-digit years: string order is date order.
    return start is not None and end is not None and end < start


def _accepted(
    source: Sequence[str], fields: dict[str, str | None], mapping: ClaimMapping, payors: PayorIndex
) -> ClaimRecord:
    """The record of a valid row: its payor resolved into the lookup and status fields, then hashed."""
    payer_id = source[mapping.payer_id_index].strip()
    payer_name = source[mapping.payer_name_index].strip()
    payor = payors.resolve(payer_id, payer_name)
    fields[mapping.payor.lookup_field] = payor
    fields[mapping.payor.status_field] = UNMAPPED if payor is None else MAPPED
    names = mapping.hash_columns
    claim_number = fields[mapping.external_id_field]
    if claim_number is None:  # pragma: no cover - the claim_key converter never returns None
        raise AssertionError("claim key converter returned no value")
    return ClaimRecord(
        claim_number=claim_number,
        fields=fields,
        content_hash=_hash_values(names, [fields[name] for name in names]),
        payor_mapped=payor is not None,
        payer_id=payer_id,
        payer_name=payer_name,
        payor_record_id=payor,
    )


def transform_page(
    rows: Iterable[tuple[int, Mapping[str, str]]],
    superseded: Container[int],
    mapping: ClaimMapping,
    payors: PayorIndex,
    invalid_text: Mapping[int, Collection[str]] | None = None,
) -> PageResult:
    """Transform one page of (row number, row); rows in ``superseded`` become DUPLICATE_CLAIM_ID.

    ``invalid_text``: row number → the columns the reader repaired (those rows are INVALID_TEXT)."""
    repaired = invalid_text or {}
    result = PageResult()
    records, rejected, unmapped = result.records, result.rejected, result.unmapped
    duplicate = (Reason(DUPLICATE_CLAIM_ID, mapping.key_rule.column),)
    key_index = mapping.key_index
    for row_number, row in rows:
        if row_number in superseded:
            claim_id = mapping.source_value(row, key_index).strip() or None
            rejected.append(Rejected(row_number, claim_id, duplicate))
            continue
        outcome = transform_row(row, row_number, mapping, payors, repaired.get(row_number, ()))
        if isinstance(outcome, ClaimRecord):
            records.append(outcome)
            if not outcome.payor_mapped:
                unmapped[(outcome.payer_id, outcome.payer_name)] += 1
        else:
            rejected.append(outcome)
    return result
