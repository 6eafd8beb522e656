"""sObject Collections JSON for claims: the one encoder of a staged claim for the synchronous path.

The staged form is the Bulk CSV form of each value (``claimsync.transform``); JSON wants types: a
checkbox is a boolean, an amount a number (a string when a float would not hold it exactly), no value
is ``null`` (which clears the field, as ``#N/A`` does in Bulk CSV).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from claimsync.mapping import ClaimMapping, Kind

if TYPE_CHECKING:  # claimsync.steps imports this module: no import cycle at run time
    from claimsync.steps.staged import StagedClaim


class SObjectEncoder:
    def __init__(self, mapping: ClaimMapping, run_id: str) -> None:
        self._kinds: list[tuple[str, Kind | None]] = []
        for column in mapping.columns:
            try:
                self._kinds.append((column, mapping.rule_for(column).kind))
            except KeyError:  # the payor lookup and status fields: text
                self._kinds.append((column, None))
        self._run_field = mapping.run_field.field
        self._run_id = run_id

    def encode(self, claim: StagedClaim) -> dict[str, Any]:
        record = {
            name: _value(kind, value) for (name, kind), value in zip(self._kinds, claim.values, strict=True)
        }
        record[self._run_field] = self._run_id
        return record


def _value(kind: Kind | None, value: str | None) -> Any:
    if value is None:
        return None
    if kind is Kind.HAS_DATE:
        return value == "true"
    if kind is Kind.MONEY:
        number = float(value)
        return number if Decimal(repr(number)) == Decimal(value) else value
    return value
