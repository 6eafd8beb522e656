"""The mapping file: read and validated once, at start-up, into a :class:`~claimsync.mapping.ClaimMapping`.

The packaged default (``mapping_default.json``) is the table of salesforce.md section 1. A mapping
file is a JSON object::

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

The kinds a rule may name, and which take a length, are listed in :mod:`claimsync.mapping`. Every
problem is a :class:`~claimsync.mapping.MappingError` naming the file and the place (``fields[3].kind``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final

from claimsync.mapping import (
    TEXT_KINDS,
    ClaimMapping,
    DateRange,
    FieldRule,
    Kind,
    MappingError,
    PayorConfig,
    RunField,
    normalise_column,
)

DEFAULT_MAPPING_RESOURCE: Final = "mapping_default.json"

# Salesforce API names: a letter, then letters, digits and single underscores, with an optional
# managed-package namespace (``ns__``) and custom suffix (``__c``).
_API_NAME_RE: Final = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9]*__)?[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*(?:__c)?", re.ASCII
)
# Longest Salesforce text field (Long Text Area); Text fields stop at 255.
_MAX_LENGTH: Final = 131_072

_TOP_REQUIRED: Final = ("object", "external_id_field", "fields", "payor", "run_field")
_TOP_OPTIONAL: Final = ("date_range",)
_RULE_REQUIRED: Final = ("field", "column", "kind")
_RULE_OPTIONAL: Final = ("length",)
_PAYOR_KEYS: Final = ("id_column", "name_column", "lookup_field", "status_field")
_RANGE_KEYS: Final = ("start_field", "end_field")
_RUN_KEYS: Final = ("field", "length")


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


def parse_mapping(data: Any, source: str = "<mapping>") -> ClaimMapping:
    """Validate a decoded mapping document; every problem is a :class:`MappingError` naming its place.

    The sections are checked in document order, so the first problem of a file is the one reported."""
    check = _Checks(source)
    top = check.obj(data, "mapping", _TOP_REQUIRED, _TOP_OPTIONAL)
    object_name = check.api_name(top["object"], "object")
    external_id = check.api_name(top["external_id_field"], "external_id_field")
    rules = check.rules(top["fields"])
    check.one_claim_key(rules, external_id)
    payor = check.payor(top["payor"])
    date_range = check.date_range(top.get("date_range"), rules)
    run_field = check.run_field(top["run_field"])
    return ClaimMapping(
        object_name=object_name,
        external_id_field=external_id,
        rules=tuple(rules),
        payor=payor,
        date_range=date_range,
        run_field=run_field,
    )


class _Checks:
    """The checks of one mapping document, each named for what it checks. ``where`` is the place in
    the document a problem is reported at; ``_owner`` remembers which place maps each Salesforce field
    (case-insensitively, as Salesforce compares names), so a field is mapped once across sections."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._owner: dict[str, str] = {}

    def fail(self, where: str, problem: str) -> MappingError:
        return MappingError(f"{self._source}: {where}: {problem}")

    # -- values ------------------------------------------------------------------------------------

    def obj(
        self, value: Any, where: str, required: Sequence[str], optional: Sequence[str] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be a JSON object")
        unknown = sorted(set(value) - set(required) - set(optional))
        if unknown:
            allowed = ", ".join((*required, *optional))
            raise self.fail(where, f"unknown key(s) {', '.join(unknown)} (allowed: {allowed})")
        missing = [key for key in required if key not in value]
        if missing:
            raise self.fail(where, f"missing key(s) {', '.join(missing)}")
        return value

    def api_name(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _API_NAME_RE.fullmatch(value):
            raise self.fail(where, "must be a Salesforce API name such as Claim_Number__c")
        return value

    def column(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not normalise_column(value):
            raise self.fail(where, "must be a non-empty report column name")
        return value.strip()

    def length(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_LENGTH:
            raise self.fail(where, f"must be an integer from 1 to {_MAX_LENGTH}")
        return value

    def mapped_once(self, field_name: str, where: str) -> None:
        previous = self._owner.setdefault(field_name.casefold(), where)
        if previous != where:
            raise self.fail(where, f"field {field_name} is mapped twice (also at {previous})")

    # -- sections ----------------------------------------------------------------------------------

    def rules(self, raw_rules: Any) -> list[FieldRule]:
        if not isinstance(raw_rules, list) or not raw_rules:
            raise self.fail("fields", "must be a non-empty list of field rules")
        return [self.rule(raw_rule, f"fields[{i}]") for i, raw_rule in enumerate(raw_rules)]

    def rule(self, raw_rule: Any, where: str) -> FieldRule:
        entry = self.obj(raw_rule, where, _RULE_REQUIRED, _RULE_OPTIONAL)
        field_name = self.api_name(entry["field"], f"{where}.field")
        source_column = self.column(entry["column"], f"{where}.column")
        kind = self.kind(entry["kind"], f"{where}.kind")
        if kind in TEXT_KINDS:
            if "length" not in entry:
                raise self.fail(where, f"kind {kind.value} needs a length (the Salesforce field's length)")
            size: int | None = self.length(entry["length"], f"{where}.length")
        else:
            if "length" in entry:
                raise self.fail(f"{where}.length", f"kind {kind.value} takes no length")
            size = None
        self.mapped_once(field_name, where)
        return FieldRule(field_name, source_column, kind, size)

    def kind(self, kind_name: Any, where: str) -> Kind:
        if kind_name not in Kind.__members__.values():
            known = ", ".join(kind.value for kind in Kind)
            raise self.fail(where, f"unknown kind {kind_name!r} (known: {known})")
        return Kind(kind_name)

    def one_claim_key(self, rules: Sequence[FieldRule], external_id: str) -> None:
        key_rules = [(i, rule) for i, rule in enumerate(rules) if rule.kind is Kind.CLAIM_KEY]
        if not key_rules:
            raise self.fail(
                "fields", f"no claim_key rule: the external id field {external_id} must be mapped"
            )
        if len(key_rules) > 1:
            raise self.fail(f"fields[{key_rules[1][0]}]", "only one claim_key rule is allowed")
        position, rule = key_rules[0]
        if rule.field != external_id:
            raise self.fail(
                f"fields[{position}]", f"the claim_key rule must be for the external id field {external_id}"
            )

    def payor(self, raw: Any) -> PayorConfig:
        entry = self.obj(raw, "payor", _PAYOR_KEYS)
        payor = PayorConfig(
            id_column=self.column(entry["id_column"], "payor.id_column"),
            name_column=self.column(entry["name_column"], "payor.name_column"),
            lookup_field=self.api_name(entry["lookup_field"], "payor.lookup_field"),
            status_field=self.api_name(entry["status_field"], "payor.status_field"),
        )
        self.mapped_once(payor.lookup_field, "payor.lookup_field")
        self.mapped_once(payor.status_field, "payor.status_field")
        return payor

    def date_range(self, raw: Any, rules: Sequence[FieldRule]) -> DateRange | None:
        """Optional (absent or null: no check); both bounds are distinct fields of kind date."""
        if raw is None:
            return None
        entry = self.obj(raw, "date_range", _RANGE_KEYS)
        kinds = {rule.field: rule.kind for rule in rules}
        bounds = []
        for key in _RANGE_KEYS:
            name = self.api_name(entry[key], f"date_range.{key}")
            if kinds.get(name) is not Kind.DATE:
                raise self.fail(f"date_range.{key}", f"{name} is not a field of kind date in fields")
            bounds.append(name)
        if bounds[0] == bounds[1]:
            raise self.fail("date_range", "start_field and end_field must differ")
        return DateRange(*bounds)

    def run_field(self, raw: Any) -> RunField:
        entry = self.obj(raw, "run_field", _RUN_KEYS)
        run_field = RunField(
            self.api_name(entry["field"], "run_field.field"), self.length(entry["length"], "run_field.length")
        )
        self.mapped_once(run_field.field, "run_field")
        return run_field
