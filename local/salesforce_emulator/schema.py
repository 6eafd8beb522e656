"""The emulator's schema model: objects, fields and their Salesforce types.

Standard objects (Account, Contact, Opportunity) are declared in code; custom objects and fields are
read from the sfdx metadata under ``salesforce/`` (see ``load_schema``), so the emulator and the
deployable metadata cannot drift. Name lookups are case-insensitive like Salesforce's; the
``name`` attributes keep the canonical API casing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FieldType = Literal[
    "id",
    "string",
    "textarea",
    "email",
    "phone",
    "url",
    "picklist",
    "boolean",
    "int",
    "double",
    "currency",
    "percent",
    "date",
    "datetime",
    "reference",
]

TEXT_TYPES: frozenset[str] = frozenset(
    {"id", "string", "textarea", "email", "phone", "url", "picklist", "reference"}
)
NUMBER_TYPES: frozenset[str] = frozenset({"int", "double", "currency", "percent"})


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: FieldType
    label: str = ""
    length: int | None = None  # text types
    precision: int | None = None  # numbers: total digits
    scale: int | None = None  # numbers: digits after the point
    required: bool = False  # must have a value on create (nillable false and no default)
    external_id: bool = False
    unique: bool = False
    picklist_values: tuple[str, ...] = ()
    reference_to: str | None = None  # target object API name for lookups
    relationship_name: str | None = None  # e.g. "Claim_Payor__r" / "Account"
    default: Any = None
    createable: bool = True
    updateable: bool = True
    restricted: bool = False  # picklists: only the declared values are accepted

    @property
    def nillable(self) -> bool:
        return not self.required and self.type not in ("boolean", "id")

    @property
    def is_custom(self) -> bool:
        return self.name.endswith("__c")


@dataclass
class ObjectDef:
    name: str
    key_prefix: str
    label: str = ""
    fields: dict[str, FieldDef] = field(default_factory=dict)  # keyed by lower-case API name

    def field(self, name: str) -> FieldDef | None:
        return self.fields.get(name.lower())

    def relationship(self, relationship_name: str) -> FieldDef | None:
        """The lookup field whose relationship name is ``relationship_name`` (case-insensitive)."""
        wanted = relationship_name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == wanted:
                return f
        return None

    def add(self, f: FieldDef) -> None:
        self.fields[f.name.lower()] = f

    @property
    def is_custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def external_id_fields(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.external_id]


@dataclass
class Schema:
    objects: dict[str, ObjectDef] = field(default_factory=dict)  # keyed by lower-case API name

    def object(self, name: str) -> ObjectDef | None:
        return self.objects.get(name.lower())

    def by_prefix(self, key_prefix: str) -> ObjectDef | None:
        for o in self.objects.values():
            if o.key_prefix == key_prefix:
                return o
        return None

    def add(self, o: ObjectDef) -> None:
        self.objects[o.name.lower()] = o
