"""The CRM API's domain: validation of Accounts, Contacts and Opportunities, record-id checks, the SOQL
guard, and the service functions over the Salesforce gateway. No Lambda or HTTP-event knowledge here:
``handlers.crm_api`` is the edge.

Modules: ``errors`` (what a caller can get wrong), ``ids`` (15/18-character ids), ``objects`` (field
allowlists and rules), ``body`` (size and JSON), ``soql`` (query guard and paging cursor), ``service``
(the operations), ``config`` (settings from the environment), ``routes`` (the route table),
``openapi`` (the generated document).
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
from claimsync.crm.objects import ACCOUNT, CONTACT, OPPORTUNITY, ObjectSpec
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
    "OPPORTUNITY",
    "BatchResult",
    "CrmConfigError",
    "CrmError",
    "CrmSettings",
    "CursorCodec",
    "ForeignRecords",
    "IdempotencyInProgress",
    "IdempotencyKeyReused",
    "InvalidIdempotencyKey",
    "InvalidJson",
    "InvalidRecordId",
    "ItemResult",
    "MissingParameters",
    "ObjectSpec",
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
    "update_record",
]
