"""The report column → Salesforce field mapping, compiled: which report column feeds which field,
how each value is converted, and how a report row's values are read.

The customer's org may name its ``Claim__c`` fields differently and CollaborateMD reports are
configurable, so which column feeds which field is data, not code: a mapping file, read and validated
at start-up by :mod:`claimsync.mapping_file` (which documents the file), becomes a
:class:`ClaimMapping`.

Kinds (see :mod:`claimsync.values` for the accepted input forms):

==============  ===========================================================  =========
kind            value                                                        length
==============  ===========================================================  =========
text            trimmed text                                                 required
claim_key       the external id (trimmed, required)                          required
patient_name    the text before a trailing ``(id)``                          required
patient_id      the id inside the trailing parentheses, empty if none        required
money           Currency(16,2), ``1234.50``                                  no
date            Date, ``yyyy-MM-dd``                                         no
datetime        DateTime in UTC, ``yyyy-MM-ddTHH:mm:ss.SSSZ``                no
has_date        Checkbox: ``true`` when the column holds a date, else false  no
==============  ===========================================================  =========

Source column names are matched case-insensitively, ignoring surrounding whitespace (and a UTF-8
byte-order mark) in the report's header. Several fields may read the same column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from operator import itemgetter
from typing import Any, Final, NamedTuple

from claimsync import values
from claimsync.errors import ClaimsyncError

Converter = Callable[[str], str | None]

MISSING_CLAIM_ID: Final = "MISSING_CLAIM_ID"
INVALID_CLAIM_ID: Final = "INVALID_CLAIM_ID"

_RESOLVER_CACHE_SIZE: Final = 64


# Per report header: the row key of each source column (None: absent), and a getter for all of them.
_Resolved = tuple[tuple[str | None, ...], "Callable[[Mapping[str, Any]], tuple[Any, ...]] | None"]


class MappingError(ClaimsyncError, ValueError):
    """The mapping configuration is invalid. The message names the file and the offending entry."""


class Kind(StrEnum):
    TEXT = "text"
    CLAIM_KEY = "claim_key"
    PATIENT_NAME = "patient_name"
    PATIENT_ID = "patient_id"
    MONEY = "money"
    DATE = "date"
    DATETIME = "datetime"
    HAS_DATE = "has_date"


TEXT_KINDS: Final = frozenset({Kind.TEXT, Kind.CLAIM_KEY, Kind.PATIENT_NAME, Kind.PATIENT_ID})


@dataclass(frozen=True, slots=True)
class FieldRule:
    field: str
    column: str
    kind: Kind
    length: int | None = None


@dataclass(frozen=True, slots=True)
class PayorConfig:
    id_column: str
    name_column: str
    lookup_field: str
    status_field: str


@dataclass(frozen=True, slots=True)
class DateRange:
    start_field: str
    end_field: str


@dataclass(frozen=True, slots=True)
class RunField:
    field: str
    length: int


class Step(NamedTuple):
    """One compiled field rule: read ``source_values[position]``, convert, store under ``field``."""

    field: str
    column: str
    position: int
    convert: Converter


def normalise_column(name: str) -> str:
    """How header names are compared: trimmed, without a byte-order mark, case-folded."""
    return name.strip().lstrip("\ufeff").strip().casefold()


def claim_key_converter(length: int) -> Converter:
    """The external id: trimmed, required (MISSING_CLAIM_ID), at most ``length`` (INVALID_CLAIM_ID)."""

    def convert(raw: str) -> str:
        key = raw.strip()
        if not key:
            raise values.InvalidValue(MISSING_CLAIM_ID)
        if len(key) > length:
            raise values.InvalidValue(INVALID_CLAIM_ID)
        if key == values.NULL_MARKER:
            raise values.InvalidValue(values.RESERVED_VALUE)
        return key

    return convert


@dataclass(frozen=True)
class ClaimMapping:
    object_name: str
    external_id_field: str
    rules: tuple[FieldRule, ...]
    payor: PayorConfig
    date_range: DateRange | None
    run_field: RunField
    # Derived in __post_init__ -------------------------------------------------------------------
    key_rule: FieldRule = field(init=False)
    columns: tuple[str, ...] = field(init=False)
    """Salesforce fields of a record in Bulk CSV order (without the run field): rules, lookup, status."""
    hash_columns: tuple[str, ...] = field(init=False, repr=False)
    """:attr:`columns` sorted: the order in which the content hash reads a record."""
    source_columns: tuple[str, ...] = field(init=False)
    """Distinct report columns read, in first-use order, spelled as in the mapping."""
    steps: tuple[Step, ...] = field(init=False, repr=False, compare=False)
    date_range_column: str | None = field(init=False, repr=False)
    """The report column named by INVALID_DATE_RANGE (the end date's)."""
    key_index: int = field(init=False, repr=False)
    payer_id_index: int = field(init=False, repr=False)
    payer_name_index: int = field(init=False, repr=False)
    _resolved: dict[tuple[str, ...], _Resolved] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        set_ = partial(object.__setattr__, self)
        set_("key_rule", _the_key_rule(self.rules, self.external_id_field))
        set_(
            "columns",
            (*(rule.field for rule in self.rules), self.payor.lookup_field, self.payor.status_field),
        )
        set_("hash_columns", tuple(sorted(self.columns)))
        set_("source_columns", _first_spellings((rule.column for rule in self.rules), self.payor))
        positions = {normalise_column(column): i for i, column in enumerate(self.source_columns)}

        def at(column: str) -> int:
            return positions[normalise_column(column)]

        set_("steps", tuple(Step(r.field, r.column, at(r.column), _converter(r)) for r in self.rules))
        end_field = None if self.date_range is None else self.date_range.end_field
        set_("date_range_column", None if end_field is None else self.rule_for(end_field).column)
        set_("key_index", at(self.key_rule.column))
        set_("payer_id_index", at(self.payor.id_column))
        set_("payer_name_index", at(self.payor.name_column))

    def rule_for(self, field_name: str) -> FieldRule:
        for rule in self.rules:
            if rule.field == field_name:
                return rule
        raise KeyError(field_name)

    def source_values(self, row: Mapping[str, Any]) -> Sequence[str]:
        """The row's values for :attr:`source_columns`, in that order; absent or null → ``""``.

        The header → key resolution is cached per distinct key tuple, so rows parsed from one file
        (which share their keys) pay for the case-insensitive lookup once.
        """
        return self._values(row, self._resolved_for(row))

    def read(self, row: Mapping[str, Any]) -> tuple[Sequence[str], tuple[int, ...]]:
        """``(source_values(row), absent_positions(row))``, the row's header resolved once."""
        resolved = self._resolved_for(row)
        return self._values(row, resolved), self._absent(resolved)

    @staticmethod
    def _values(row: Mapping[str, Any], resolved: _Resolved) -> Sequence[str]:
        keys, getter = resolved
        if getter is not None:
            found = getter(row)
            if len(set(map(type, found))) == 1 and found[0].__class__ is str:  # all str: the usual case
                return found
        out: list[str] = []
        for key in keys:
            value = row[key] if key is not None else ""
            if value.__class__ is not str:
                value = "" if value is None else str(value)
            out.append(value)
        return out

    def source_value(self, row: Mapping[str, Any], position: int) -> str:
        """``source_values(row)[position]`` without reading the row's other columns."""
        column = self.source_columns[position]
        if column in row:  # the exact spelling: what resolving the row's header picks when it is there
            value = row[column]
        else:
            key = self._resolved_for(row)[0][position]
            value = row[key] if key is not None else ""
        if value.__class__ is not str:
            value = "" if value is None else str(value)
        return value

    def absent_positions(self, row: Mapping[str, Any]) -> tuple[int, ...]:
        """Positions in :attr:`source_columns` of the mapped columns ``row`` does not have at all.

        Absent is not empty: a row whose ``ClaimTotalAmount`` is null or ``""`` clears the field, a
        row without the key cannot say what the field should be, so the transformation rejects it
        (``MISSING_COLUMN``). Cached per header, like :meth:`source_values`.
        """
        return self._absent(self._resolved_for(row))

    @staticmethod
    def _absent(resolved: _Resolved) -> tuple[int, ...]:
        keys, getter = resolved
        if getter is not None:
            return ()
        return tuple(i for i, key in enumerate(keys) if key is None)

    def positions_of(self, columns: Iterable[str]) -> tuple[int, ...]:
        """Positions in :attr:`source_columns` of those ``columns`` (report spellings) that are mapped."""
        wanted = {normalise_column(column) for column in columns}
        return tuple(i for i, column in enumerate(self.source_columns) if normalise_column(column) in wanted)

    def _resolved_for(self, row: Mapping[str, Any]) -> _Resolved:
        header = tuple(row)
        resolved = self._resolved.get(header)
        return self._resolve(header) if resolved is None else resolved

    def _resolve(self, header: tuple[str, ...]) -> _Resolved:
        by_norm: dict[str, str] = {}
        for name in header:
            by_norm.setdefault(normalise_column(name), name)
        exact = set(header)
        keys = tuple(
            column if column in exact else by_norm.get(normalise_column(column))
            for column in self.source_columns
        )
        getter: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = None
        if len(keys) > 1 and None not in keys:
            getter = itemgetter(*keys)
        if len(self._resolved) >= _RESOLVER_CACHE_SIZE:
            self._resolved.clear()
        resolved = (keys, getter)
        self._resolved[header] = resolved
        return resolved


def _the_key_rule(rules: Iterable[FieldRule], external_id_field: str) -> FieldRule:
    keys = [rule for rule in rules if rule.kind is Kind.CLAIM_KEY]
    if len(keys) != 1 or keys[0].field != external_id_field:
        raise MappingError("exactly one claim_key rule, for the external_id_field, is required")
    return keys[0]


def _first_spellings(rule_columns: Iterable[str], payor: PayorConfig) -> tuple[str, ...]:
    """The distinct report columns read (rules', then the payor's), each as first spelled."""
    order: dict[str, str] = {}
    for column in (*rule_columns, payor.id_column, payor.name_column):
        order.setdefault(normalise_column(column), column)
    return tuple(order.values())


def _converter(rule: FieldRule) -> Converter:
    length = rule.length if rule.length is not None else 0
    match rule.kind:
        case Kind.TEXT:
            return values.text_converter(length)
        case Kind.CLAIM_KEY:
            return claim_key_converter(length)
        case Kind.PATIENT_NAME:
            return values.patient_name_converter(length)
        case Kind.PATIENT_ID:
            return values.patient_id_converter(length)
        case Kind.MONEY:
            return values.money_csv
        case Kind.DATE:
            return values.date_csv
        case Kind.DATETIME:
            return values.datetime_csv
        case Kind.HAS_DATE:
            return values.has_date_csv
