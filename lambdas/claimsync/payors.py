"""Which ``Claim_Payor__c`` a claim's payer is: the index of the active ``Payor_Mapping__c`` records
(salesforce.md §2), built once per run (LoadPayors) and consulted for every claim (TransformPage).

A claim's payer is looked up by its CollaborateMD payer id first, then by its name; a claim whose
payer matches nothing is still sent, with ``Payor_Mapping_Status__c = Unmapped``
(``claimsync.transform``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _text(value: Any) -> str:
    if value is None:
        return ""
    return (value if isinstance(value, str) else str(value)).strip()


def _is_active(record: Mapping[str, Any]) -> bool:
    # Active__c is a Checkbox defaulting to true; a record queried without it counts as active.
    value = record.get("Active__c", True)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return value is True


def _add(index: dict[str, str | None], key: str, payor: str) -> None:
    """Map ``key`` (if any) to ``payor``, or to None (ambiguous) when it already maps elsewhere."""
    if key and index.setdefault(key, payor) != payor:
        index[key] = None


def _unambiguous(index: Mapping[str, str | None]) -> dict[str, str]:
    return {key: payor for key, payor in index.items() if payor is not None}


class PayorIndex:
    """Active ``Payor_Mapping__c`` rows, indexed by CMD payer id and by case-folded payer name.

    A key that two active mappings send to different payors is ambiguous: it matches nothing (so the
    claims show up as Unmapped for an admin to fix) and is counted in ``ambiguous_ids`` /
    ``ambiguous_names``. Mappings without a ``Claim_Payor__c`` never match.
    """

    __slots__ = ("_by_id", "_by_name", "ambiguous_ids", "ambiguous_names")

    def __init__(
        self, by_id: Mapping[str, str] | None = None, by_name: Mapping[str, str] | None = None
    ) -> None:
        self._by_id = dict(by_id or {})
        self._by_name = {name.strip().casefold(): payor for name, payor in (by_name or {}).items()}
        self.ambiguous_ids = 0
        self.ambiguous_names = 0

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> PayorIndex:
        by_id: dict[str, str | None] = {}  # key → payor, None once two mappings disagree
        by_name: dict[str, str | None] = {}
        for record in records:
            payor = _text(record.get("Claim_Payor__c"))
            if payor and _is_active(record):
                _add(by_id, _text(record.get("CMD_Payer_Id__c")), payor)
                _add(by_name, _text(record.get("CMD_Payer_Name__c")).casefold(), payor)
        index = cls(_unambiguous(by_id), _unambiguous(by_name))
        index.ambiguous_ids = sum(1 for payor in by_id.values() if payor is None)
        index.ambiguous_names = sum(1 for payor in by_name.values() if payor is None)
        return index

    def __len__(self) -> int:
        return len(self._by_id) + len(self._by_name)

    def resolve(self, payer_id: str, payer_name: str) -> str | None:
        """The Claim_Payor__c id: by payer id (exact, trimmed) first, then by name (case-insensitive)."""
        if payer_id:
            payor = self._by_id.get(payer_id.strip())
            if payor is not None:
                return payor
        if payer_name:
            return self._by_name.get(payer_name.strip().casefold())
        return None
