"""The CRM API's domain: one declaration per object served (Account, Contact, Opportunity), validation,
record-id checks, the SOQL guard, and the service functions over the Salesforce gateway. No Lambda or
HTTP-event knowledge here: ``handlers.crm_api`` is the edge.

Modules: ``objects`` (the declarations: fields, rules, create answers; ``OBJECTS``), ``routes`` (the
route table derived from them), ``openapi`` (the document derived from them), ``errors`` (what a
caller can get wrong), ``ids`` (15/18-character ids), ``body`` (size and JSON), ``soql`` (query guard
and paging cursor), ``service`` (the operations), ``idempotency`` (``Idempotency-Key``), ``config``
(settings from the environment).
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
