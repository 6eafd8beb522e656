"""The CRM API's domain: one declaration per object served (Account, Contact, Opportunity), validation,
record-id checks, the SOQL guard, the service functions over the Salesforce gateway, and what each
route answers. No Lambda or HTTP-event knowledge here: ``handlers._crm_edge`` is the edge.

Modules: ``objects`` (the declarations: fields, create answers; ``OBJECTS``), ``fields`` (a field's
rule, one check per kind), ``routes`` (the route table derived from them), ``openapi`` and
``schemas`` (the document derived from them), ``api`` (each kind of route: a ``Request`` in, an
``Answer`` out), ``refusals`` (every error to a status, in one place), ``envelope`` (the answer's
shape), ``errors`` (what a caller can get wrong), ``ids`` (15/18-character ids), ``body`` (size and
JSON), ``soql`` (query guard and paging cursor), ``service`` (the operations), ``idempotency``
(``Idempotency-Key``), ``config`` (settings from the environment).
"""

from claimsync.crm.body import parse_json_body
from claimsync.crm.config import CrmConfigError, CrmSettings
from claimsync.crm.errors import (
    ERROR_CODES,
    CrmError,
    ForeignRecords,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    InvalidJson,
    InvalidRecordId,
    MissingParameters,
    PayloadTooLarge,
    QueryRejected,
    UnsupportedMediaType,
    ValidationFailed,
)
from claimsync.crm.fields import FieldRule, text_field
from claimsync.crm.objects import (
    ACCOUNT,
    CONTACT,
    OBJECTS,
    OPPORTUNITY,
    CrmObject,
    Echo,
)
from claimsync.crm.service import (
    BatchResult,
    ItemResult,
    QueryPage,
    batch_create,
    create_record,
    delete_record,
    get_record,
    run_query,
    salesforce_connected,
    update_record,
)
from claimsync.crm.soql import CursorCodec, QueryPolicy

__all__ = [
    "ACCOUNT",
    "CONTACT",
    "ERROR_CODES",
    "OBJECTS",
    "OPPORTUNITY",
    "BatchResult",
    "CrmConfigError",
    "CrmError",
    "CrmObject",
    "CrmSettings",
    "CursorCodec",
    "Echo",
    "FieldRule",
    "ForeignRecords",
    "IdempotencyInProgress",
    "IdempotencyKeyReused",
    "InvalidIdempotencyKey",
    "InvalidJson",
    "InvalidRecordId",
    "ItemResult",
    "MissingParameters",
    "PayloadTooLarge",
    "QueryPage",
    "QueryPolicy",
    "QueryRejected",
    "UnsupportedMediaType",
    "ValidationFailed",
    "batch_create",
    "create_record",
    "delete_record",
    "get_record",
    "parse_json_body",
    "run_query",
    "salesforce_connected",
    "text_field",
    "update_record",
]
