"""The records the CRM API serves: one declaration per object, and everything else derives from it.

A ``CrmObject`` says what the API needs to know about a Salesforce object: its API name and key
prefix, the URL collection (``accounts``), its writable fields with a rule each, the required ones,
what a create answers besides the record id, the external-id field idempotent creates upsert on, and
whether it has a batch create. From the tuple ``OBJECTS``:

- ``claimsync.crm.routes`` derives the routes (``POST /accounts``, ``GET/PATCH/DELETE
  /accounts/{account_id}``, ``POST /batch/accounts``), which the handler registers in one loop and
  the API Gateway stack turns into resources;
- ``validate_fields`` checks a caller's body against the field rules (``claimsync.crm.fields``:
  ``FieldRule``, one check per kind) before anything reaches
  Salesforce: unknown fields, missing required fields, wrong types and formats are all reported at
  once (``ValidationFailed`` naming the fields);
- ``claimsync.crm.schemas`` and ``claimsync.crm.openapi`` derive the request, record and answer
  schemas and the operations, so the document and the checks cannot drift;
- the SOQL guard allows exactly these objects unless ``CRM_QUERY_OBJECTS`` says otherwise.

Adding an object is adding a declaration to ``OBJECTS`` (docs/crm-api.md, "Adding an object").

Values are passed to Salesforce as given (no trimming, no rounding); ``null`` clears an optional
field on update.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claimsync.crm.errors import MissingParameters, ValidationFailed
from claimsync.crm.fields import FieldRule, text_field

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

# The external-id field a keyed create upserts on (Text(64), unique; ``salesforce/`` metadata).
REQUEST_KEY_FIELD = "Claimsync_Request_Key__c"
_PATH_SEGMENT = re.compile(r"[a-z][a-z0-9_]*")
_RESERVED_COLLECTIONS = frozenset({"batch", "query", "health"})


@dataclass(frozen=True)
class Echo:
    """One key of a create's answer (besides ``record_id``): the value of ``fields`` as sent, several
    joined with a space (``contact_name`` is ``FirstName LastName``)."""

    key: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class CrmObject:
    """Everything the CRM API knows about one Salesforce object (see the module's docstring)."""

    sobject: str  # Salesforce API name
    key_prefix: str  # the first three characters of its record ids
    collection: str  # URL path segment of its routes: /<collection>, /<collection>/{<singular>_id}
    singular: str  # names the path parameter and reads in the OpenAPI summaries
    fields: tuple[FieldRule, ...]  # the writable allowlist
    required: tuple[str, ...]  # required on create
    created: tuple[Echo, ...]  # what a create answers besides record_id
    read_only: tuple[str, ...] = ()  # returned by GET besides Id and the writable fields
    # Creates with an Idempotency-Key upsert on this external-id field; None: the header is ignored.
    request_key_field: str | None = REQUEST_KEY_FIELD
    batch: bool = False  # POST /batch/<collection>: many creates through sObject Collections

    def __post_init__(self) -> None:
        problems = []
        names = self.field_names
        if not re.fullmatch(r"[0-9A-Za-z]{3}", self.key_prefix):
            problems.append("key_prefix must be three letters or digits")
        for segment in (self.collection, self.singular):
            if not _PATH_SEGMENT.fullmatch(segment) or segment in _RESERVED_COLLECTIONS:
                problems.append(f"{segment!r} cannot be a path segment (a-z, 0-9, _; not batch/query/health)")
        if len(set(names)) != len(names):
            problems.append("a field is declared twice")
        if not set(self.required) <= set(names):
            problems.append(f"required fields {sorted(set(self.required) - set(names))} are not declared")
        for echo in self.created:
            if not echo.fields or not set(echo.fields) <= set(names):
                problems.append(f"created answer {echo.key!r} echoes undeclared fields")
            elif len(echo.fields) > 1 and not set(echo.fields) <= set(self.required):
                problems.append(f"created answer {echo.key!r} joins fields that are not all required")
        if problems:
            raise ValueError(f"CrmObject {self.sobject}: " + "; ".join(problems))

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

    @property
    def id_param(self) -> str:
        return f"{self.singular}_id"

    def created_answer(self, record_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """The ``data`` of a create's 201: ``record_id`` and the declared echoes of ``values``."""
        answer: dict[str, Any] = {"record_id": record_id}
        for echo in self.created:
            if len(echo.fields) == 1:
                answer[echo.key] = values.get(echo.fields[0])
            else:
                answer[echo.key] = " ".join(str(values[name]) for name in echo.fields)
        return answer


def validate_fields(spec: CrmObject, body: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """The fields to send for a create (``partial=False``) or an update (``partial=True``).

    Every problem is collected into one ``ValidationFailed`` naming the fields involved: unknown
    fields first, then missing required ones (on create), then each remaining value against its
    rule. An update with no fields is ``MissingParameters``.
    """
    if partial and not body:
        raise MissingParameters("give at least one field to update")
    problems: list[str] = []
    bad: list[str] = []
    unknown = [name for name in body if spec.rule(name) is None]
    if unknown:
        problems.append(f"unknown fields {unknown}; accepted fields: {list(spec.field_names)}")
        bad.extend(unknown)
    missing = [] if partial else [n for n in spec.required if _blank(body.get(n))]
    if missing:
        problems.append(f"missing required fields {missing}")
        bad.extend(missing)
    for name, value in body.items():
        problem = None if name in bad else _value_problem(spec, name, value)
        if problem:
            problems.append(f"{name} {problem}")
            bad.append(name)
    if problems:
        raise ValidationFailed("; ".join(problems), bad)
    return dict(body)


def _value_problem(spec: CrmObject, name: str, value: Any) -> str | None:
    """What is wrong with the value of the declared field ``name`` (``None``: nothing)."""
    required = name in spec.required
    if value is None:  # clears an optional field
        return "is required and cannot be null" if required else None
    rule = spec.rule(name)
    problem = rule.check(value) if rule is not None else None
    if problem is None and required and _blank(value):
        return "must not be blank"
    return problem


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


ACCOUNT = CrmObject(
    sobject="Account",
    key_prefix="001",
    collection="accounts",
    singular="account",
    fields=(
        text_field("Name", 255),
        text_field("Phone", 40),
        text_field("Fax", 40),
        text_field("Website", 255),
        text_field("Industry", 255),
        text_field("Type", 255),
        text_field("AccountNumber", 40),
        text_field("BillingStreet", 255),
        text_field("BillingCity", 40),
        text_field("BillingState", 80),
        text_field("BillingPostalCode", 20),
        text_field("BillingCountry", 80),
        FieldRule("AnnualRevenue", "number", minimum=-1e18 + 1, maximum=1e18 - 1),
        FieldRule("NumberOfEmployees", "integer", minimum=0, maximum=99_999_999),
        text_field("Description", 32_000),
    ),
    required=("Name",),
    created=(Echo("account_name", ("Name",)),),
    batch=True,
)

CONTACT = CrmObject(
    sobject="Contact",
    key_prefix="003",
    collection="contacts",
    singular="contact",
    fields=(
        text_field("FirstName", 40),
        text_field("LastName", 80),
        FieldRule("Email", "email", max_length=80),
        text_field("Phone", 40),
        text_field("MobilePhone", 40),
        text_field("Title", 128),
        text_field("Department", 80),
        FieldRule("AccountId", "reference", reference_prefix="001", description="an Account id"),
        text_field("MailingStreet", 255),
        text_field("MailingCity", 40),
        text_field("MailingState", 80),
        text_field("MailingPostalCode", 20),
        text_field("MailingCountry", 80),
        FieldRule("Birthdate", "date"),
        text_field("LeadSource", 255),
        text_field("Description", 32_000),
    ),
    required=("FirstName", "LastName"),
    created=(Echo("contact_name", ("FirstName", "LastName")),),
    read_only=("Name",),
)

OPPORTUNITY = CrmObject(
    sobject="Opportunity",
    key_prefix="006",
    collection="opportunities",
    singular="opportunity",
    fields=(
        text_field("Name", 120),
        FieldRule("StageName", "choice", choices=STANDARD_STAGES),
        FieldRule("CloseDate", "date"),
        # Currency(18, 2): at most 16 digits before the point.
        FieldRule("Amount", "number", minimum=-1e16 + 1, maximum=1e16 - 1),
        FieldRule("Probability", "number", minimum=0, maximum=100),
        FieldRule("AccountId", "reference", reference_prefix="001", description="an Account id"),
        text_field("Type", 255),
        text_field("LeadSource", 255),
        text_field("NextStep", 255),
        text_field("Description", 32_000),
    ),
    required=("Name", "StageName", "CloseDate"),
    created=(Echo("opportunity_name", ("Name",)), Echo("amount", ("Amount",))),
)

# The objects the API serves, in the order of its routes and its OpenAPI document.
OBJECTS: tuple[CrmObject, ...] = (ACCOUNT, CONTACT, OPPORTUNITY)
