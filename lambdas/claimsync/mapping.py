"""The report column → Salesforce field mapping: configuration, loaded and validated at start-up.

The customer's org may name its ``Claim__c`` fields differently and CollaborateMD reports are
configurable, so which column feeds which field is data, not code. The packaged default
(``mapping_default.json``) is the table of salesforce.md section 1. A mapping file is a JSON object::

    {
      "object": "Claim__c",                      # the target sObject
      "external_id_field": "Claim_Number__c",    # the upsert key; must be the field of the claim_key rule
      "fields": [                                # one rule per Salesforce field, in CSV column order
        {"field": "Claim_Number__c", "column": "ClaimID", "kind": "claim_key", "length": 50},
        {"field": "Charged_Amount__c", "column": "ClaimTotalAmount", "kind": "money"},
        ...
      ],
      "payor": {"id_column": ..., "name_column": ..., "lookup_field": ..., "status_field": ...},
      "date_range": {"start_field": ..., "end_field": ...},     # optional (null or absent: no check)
      "run_field": {"field": "Last_Sync_Run__c", "length": 80}  # filled at send time, not hashed
    }

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

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from importlib import resources
from operator import itemgetter
from pathlib import Path
from typing import Any, Final, NamedTuple

from claimsync import values
from claimsync.errors import ClaimsyncError

Converter = Callable[[str], str | None]

MISSING_CLAIM_ID: Final = "MISSING_CLAIM_ID"
INVALID_CLAIM_ID: Final = "INVALID_CLAIM_ID"

DEFAULT_MAPPING_RESOURCE: Final = "mapping_default.json"

# Salesforce API names: a letter, then letters, digits and single underscores, with an optional
# managed-package namespace (``ns__``) and custom suffix (``__c``).
_API_NAME_RE: Final = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9]*__)?[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*(?:__c)?", re.ASCII
)
# Longest Salesforce text field (Long Text Area); Text fields stop at 255.
_MAX_LENGTH: Final = 131_072
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
        keys = [rule for rule in self.rules if rule.kind is Kind.CLAIM_KEY]
        if len(keys) != 1 or keys[0].field != self.external_id_field:
            raise MappingError("exactly one claim_key rule, for the external_id_field, is required")
        set_ = partial(object.__setattr__, self)
        set_("key_rule", keys[0])
        set_(
            "columns",
            (*(rule.field for rule in self.rules), self.payor.lookup_field, self.payor.status_field),
        )
        set_("hash_columns", tuple(sorted(self.columns)))
        order: dict[str, str] = {}
        for column in (
            *(rule.column for rule in self.rules),
            self.payor.id_column,
            self.payor.name_column,
        ):
            order.setdefault(normalise_column(column), column)
        positions = {norm: i for i, norm in enumerate(order)}
        set_("source_columns", tuple(order.values()))
        set_(
            "steps",
            tuple(
                Step(rule.field, rule.column, positions[normalise_column(rule.column)], _converter(rule))
                for rule in self.rules
            ),
        )
        set_(
            "date_range_column",
            None if self.date_range is None else self.rule_for(self.date_range.end_field).column,
        )
        set_("key_index", positions[normalise_column(keys[0].column)])
        set_("payer_id_index", positions[normalise_column(self.payor.id_column)])
        set_("payer_name_index", positions[normalise_column(self.payor.name_column)])

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
        header = tuple(row)
        resolved = self._resolved.get(header)
        if resolved is None:
            resolved = self._resolve(header)
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

    def absent_positions(self, row: Mapping[str, Any]) -> tuple[int, ...]:
        """Positions in :attr:`source_columns` of the mapped columns ``row`` does not have at all.

        Absent is not empty: a row whose ``ClaimTotalAmount`` is null or ``""`` clears the field, a
        row without the key cannot say what the field should be, so the transformation rejects it
        (``MISSING_COLUMN``). Cached per header, like :meth:`source_values`.
        """
        header = tuple(row)
        resolved = self._resolved.get(header)
        if resolved is None:
            resolved = self._resolve(header)
        keys, getter = resolved
        if getter is not None:
            return ()
        return tuple(i for i, key in enumerate(keys) if key is None)

    def positions_of(self, columns: Iterable[str]) -> tuple[int, ...]:
        """Positions in :attr:`source_columns` of those ``columns`` (report spellings) that are mapped."""
        wanted = {normalise_column(column) for column in columns}
        return tuple(i for i, column in enumerate(self.source_columns) if normalise_column(column) in wanted)

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


# ----------------------------------------------------------------------------------------- loading


def load_mapping(path: Path | None = None) -> ClaimMapping:
    """Load and validate a mapping file; ``None`` loads the packaged default."""
    if path is None:
        source = f"<packaged {DEFAULT_MAPPING_RESOURCE}>"
        text = resources.files("claimsync").joinpath(DEFAULT_MAPPING_RESOURCE).read_text("utf-8")
    else:
        source = str(path)
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise MappingError(f"{source}: cannot read the mapping file ({exc.strerror})") from exc
        except UnicodeDecodeError as exc:
            raise MappingError(f"{source}: the mapping file is not UTF-8") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappingError(
            f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    return parse_mapping(data, source)


_TOP_REQUIRED: Final = ("object", "external_id_field", "fields", "payor", "run_field")
_TOP_OPTIONAL: Final = ("date_range",)
_RULE_REQUIRED: Final = ("field", "column", "kind")
_RULE_OPTIONAL: Final = ("length",)
_PAYOR_KEYS: Final = ("id_column", "name_column", "lookup_field", "status_field")
_RANGE_KEYS: Final = ("start_field", "end_field")
_RUN_KEYS: Final = ("field", "length")


def parse_mapping(data: Any, source: str = "<mapping>") -> ClaimMapping:
    """Validate a decoded mapping document; every problem is a :class:`MappingError` naming its place."""

    def fail(where: str, problem: str) -> MappingError:
        return MappingError(f"{source}: {where}: {problem}")

    def obj(value: Any, where: str, required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise fail(where, "must be a JSON object")
        unknown = sorted(set(value) - set(required) - set(optional))
        if unknown:
            allowed = ", ".join((*required, *optional))
            raise fail(where, f"unknown key(s) {', '.join(unknown)} (allowed: {allowed})")
        missing = [key for key in required if key not in value]
        if missing:
            raise fail(where, f"missing key(s) {', '.join(missing)}")
        return value

    def api_name(value: Any, where: str) -> str:
        if not isinstance(value, str) or not _API_NAME_RE.fullmatch(value):
            raise fail(where, "must be a Salesforce API name such as Claim_Number__c")
        return value

    def column(value: Any, where: str) -> str:
        if not isinstance(value, str) or not normalise_column(value):
            raise fail(where, "must be a non-empty report column name")
        return value.strip()

    def length(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_LENGTH:
            raise fail(where, f"must be an integer from 1 to {_MAX_LENGTH}")
        return value

    top = obj(data, "mapping", _TOP_REQUIRED, _TOP_OPTIONAL)
    object_name = api_name(top["object"], "object")
    external_id = api_name(top["external_id_field"], "external_id_field")

    raw_rules = top["fields"]
    if not isinstance(raw_rules, list) or not raw_rules:
        raise fail("fields", "must be a non-empty list of field rules")
    rules: list[FieldRule] = []
    owner: dict[str, str] = {}  # Salesforce field (case-insensitive, as in Salesforce) → where

    def claim(field_name: str, where: str) -> None:
        previous = owner.setdefault(field_name.casefold(), where)
        if previous != where:
            raise fail(where, f"field {field_name} is mapped twice (also at {previous})")

    for i, raw_rule in enumerate(raw_rules):
        where = f"fields[{i}]"
        entry = obj(raw_rule, where, _RULE_REQUIRED, _RULE_OPTIONAL)
        field_name = api_name(entry["field"], f"{where}.field")
        source_column = column(entry["column"], f"{where}.column")
        kind_name = entry["kind"]
        if kind_name not in Kind.__members__.values():
            known = ", ".join(kind.value for kind in Kind)
            raise fail(f"{where}.kind", f"unknown kind {kind_name!r} (known: {known})")
        kind = Kind(kind_name)
        if kind in TEXT_KINDS:
            if "length" not in entry:
                raise fail(where, f"kind {kind.value} needs a length (the Salesforce field's length)")
            size: int | None = length(entry["length"], f"{where}.length")
        else:
            if "length" in entry:
                raise fail(f"{where}.length", f"kind {kind.value} takes no length")
            size = None
        claim(field_name, where)
        rules.append(FieldRule(field_name, source_column, kind, size))

    key_rules = [(i, rule) for i, rule in enumerate(rules) if rule.kind is Kind.CLAIM_KEY]
    if not key_rules:
        raise fail("fields", f"no claim_key rule: the external id field {external_id} must be mapped")
    if len(key_rules) > 1:
        raise fail(f"fields[{key_rules[1][0]}]", "only one claim_key rule is allowed")
    if key_rules[0][1].field != external_id:
        raise fail(
            f"fields[{key_rules[0][0]}]",
            f"the claim_key rule must be for the external id field {external_id}",
        )

    raw_payor = obj(top["payor"], "payor", _PAYOR_KEYS)
    payor = PayorConfig(
        id_column=column(raw_payor["id_column"], "payor.id_column"),
        name_column=column(raw_payor["name_column"], "payor.name_column"),
        lookup_field=api_name(raw_payor["lookup_field"], "payor.lookup_field"),
        status_field=api_name(raw_payor["status_field"], "payor.status_field"),
    )
    claim(payor.lookup_field, "payor.lookup_field")
    claim(payor.status_field, "payor.status_field")

    date_range: DateRange | None = None
    if top.get("date_range") is not None:
        raw_range = obj(top["date_range"], "date_range", _RANGE_KEYS)
        kinds = {rule.field: rule.kind for rule in rules}
        bounds = []
        for key in _RANGE_KEYS:
            name = api_name(raw_range[key], f"date_range.{key}")
            if kinds.get(name) is not Kind.DATE:
                raise fail(f"date_range.{key}", f"{name} is not a field of kind date in fields")
            bounds.append(name)
        if bounds[0] == bounds[1]:
            raise fail("date_range", "start_field and end_field must differ")
        date_range = DateRange(*bounds)

    raw_run = obj(top["run_field"], "run_field", _RUN_KEYS)
    run_field = RunField(
        api_name(raw_run["field"], "run_field.field"), length(raw_run["length"], "run_field.length")
    )
    claim(run_field.field, "run_field")

    return ClaimMapping(
        object_name=object_name,
        external_id_field=external_id,
        rules=tuple(rules),
        payor=payor,
        date_range=date_range,
        run_field=run_field,
    )
