"""The records the CRM API serves (Account, Contact, Opportunity): their fields and validation rules.

Each object has an allowlist of writable fields with a rule per field. ``validate_fields`` checks a
caller's body against it before anything reaches Salesforce: unknown fields, missing required
fields, wrong types and formats are all reported at once (``ValidationFailed`` naming the fields).
The same rules produce the OpenAPI request and record schemas (``claimsync.crm.openapi``), so the
document and the checks cannot drift.

Values are passed to Salesforce as given (no trimming, no rounding); ``null`` clears an optional
field on update.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from claimsync.crm.errors import InvalidRecordId, MissingParameters, ValidationFailed
from claimsync.crm.ids import normalize_id

Kind = Literal["text", "email", "date", "number", "integer", "reference", "choice"]

STANDARD_STAGES: tuple[str, ...] = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)

# Deliberately simple: one @, no spaces, a dot in the domain. Salesforce checks further.
EMAIL_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
_EMAIL = re.compile(EMAIL_PATTERN)
_DATE = re.compile(DATE_PATTERN)


@dataclass(frozen=True)
class FieldRule:
    name: str
    kind: Kind
    max_length: int | None = None  # text, email
    choices: tuple[str, ...] = ()  # choice
    minimum: float | None = None  # number, integer
    maximum: float | None = None
    reference_prefix: str = ""  # reference: key prefix of the target object
    description: str = ""

    def check(self, value: Any) -> str | None:
        """``None`` when ``value`` (not null) is acceptable, else what is wrong (without the value)."""
        k = self.kind
        if k in ("text", "email", "choice", "date", "reference") and not isinstance(value, str):
            return "must be a string"
        if k in ("text", "email") and self.max_length is not None and len(value) > self.max_length:
            return f"must be at most {self.max_length} characters"
        if k == "email" and not _EMAIL.match(value):
            return "must be an email address"
        if k == "choice" and value not in self.choices:
            return f"must be one of {list(self.choices)}"
        if k == "date":
            return None if _valid_date(value) else "must be a date YYYY-MM-DD"
        if k == "reference":
            try:
                normalize_id(value, self.reference_prefix, what="the id")
            except InvalidRecordId as exc:
                return str(exc).removeprefix("the id ")
        if k in ("number", "integer"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return "must be a number" if k == "number" else "must be a whole number"
            if k == "integer" and not isinstance(value, int):
                return "must be a whole number"
            if isinstance(value, float) and not math.isfinite(value):  # math.isfinite(10**4000) overflows
                return "must be a finite number"
            if self.minimum is not None and value < self.minimum:
                return f"must be at least {_num(self.minimum)}"
            if self.maximum is not None and value > self.maximum:
                return f"must be at most {_num(self.maximum)}"
        return None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _valid_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ObjectSpec:
    sobject: str  # Salesforce API name
    key_prefix: str
    fields: tuple[FieldRule, ...]  # the writable allowlist
    required: tuple[str, ...]  # required on create
    read_only: tuple[str, ...] = ()  # returned by GET besides Id and the writable fields

    def rule(self, name: str) -> FieldRule | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def readable_fields(self) -> tuple[str, ...]:
        return ("Id", *self.field_names, *self.read_only, "CreatedDate", "LastModifiedDate")


def validate_fields(spec: ObjectSpec, body: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """The fields to send for a create (``partial=False``) or an update (``partial=True``).

    Every problem is collected into one ``ValidationFailed`` naming the fields involved. An update
    with no fields is ``MissingParameters``.
    """
    if partial and not body:
        raise MissingParameters("give at least one field to update")
    problems: list[str] = []
    bad: list[str] = []
    unknown = [name for name in body if spec.rule(name) is None]
    if unknown:
        problems.append(f"unknown fields {unknown}; accepted fields: {list(spec.field_names)}")
        bad.extend(unknown)
    if not partial:
        missing = [n for n in spec.required if _blank(body.get(n))]
        if missing:
            problems.append(f"missing required fields {missing}")
            bad.extend(missing)
    for name, value in body.items():
        rule = spec.rule(name)
        if rule is None or name in bad:
            continue
        if value is None:
            if name in spec.required:
                problems.append(f"{name} is required and cannot be null")
                bad.append(name)
            continue
        problem = rule.check(value)
        if problem is None and name in spec.required and _blank(value):
            problem = "must not be blank"
        if problem:
            problems.append(f"{name} {problem}")
            bad.append(name)
    if problems:
        raise ValidationFailed("; ".join(problems), bad)
    return dict(body)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(name: str, length: int, description: str = "") -> FieldRule:
    return FieldRule(name, "text", max_length=length, description=description)


ACCOUNT = ObjectSpec(
    sobject="Account",
    key_prefix="001",
    fields=(
        _text("Name", 255),
        _text("Phone", 40),
        _text("Fax", 40),
        _text("Website", 255),
        _text("Industry", 255),
        _text("Type", 255),
        _text("AccountNumber", 40),
        _text("BillingStreet", 255),
        _text("BillingCity", 40),
        _text("BillingState", 80),
        _text("BillingPostalCode", 20),
        _text("BillingCountry", 80),
        FieldRule("AnnualRevenue", "number", minimum=-1e18 + 1, maximum=1e18 - 1),
        FieldRule("NumberOfEmployees", "integer", minimum=0, maximum=99_999_999),
        _text("Description", 32_000),
    ),
    required=("Name",),
)

CONTACT = ObjectSpec(
    sobject="Contact",
    key_prefix="003",
    fields=(
        _text("FirstName", 40),
        _text("LastName", 80),
        FieldRule("Email", "email", max_length=80),
        _text("Phone", 40),
        _text("MobilePhone", 40),
        _text("Title", 128),
        _text("Department", 80),
        FieldRule("AccountId", "reference", reference_prefix="001", description="an Account id"),
        _text("MailingStreet", 255),
        _text("MailingCity", 40),
        _text("MailingState", 80),
        _text("MailingPostalCode", 20),
        _text("MailingCountry", 80),
        FieldRule("Birthdate", "date"),
        _text("LeadSource", 255),
        _text("Description", 32_000),
    ),
    required=("FirstName", "LastName"),
    read_only=("Name",),
)

OPPORTUNITY = ObjectSpec(
    sobject="Opportunity",
    key_prefix="006",
    fields=(
        _text("Name", 120),
        FieldRule("StageName", "choice", choices=STANDARD_STAGES),
        FieldRule("CloseDate", "date"),
        # Currency(18, 2): at most 16 digits before the point.
        FieldRule("Amount", "number", minimum=-1e16 + 1, maximum=1e16 - 1),
        FieldRule("Probability", "number", minimum=0, maximum=100),
        FieldRule("AccountId", "reference", reference_prefix="001", description="an Account id"),
        _text("Type", 255),
        _text("LeadSource", 255),
        _text("NextStep", 255),
        _text("Description", 32_000),
    ),
    required=("Name", "StageName", "CloseDate"),
)

OBJECTS: tuple[ObjectSpec, ...] = (ACCOUNT, CONTACT, OPPORTUNITY)
