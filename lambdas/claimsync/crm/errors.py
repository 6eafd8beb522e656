"""The CRM API's domain errors: what a caller did wrong, named once, mapped to HTTP in one place.

The messages are written for the API caller and name fields, never the values the caller sent, so
they are safe to return. They are still not logged: handlers log the error type and code only.
Salesforce's own failures arrive as ``claimsync.salesforce.errors.SalesforceError`` subclasses and are
mapped next to these (``claimsync.crm.refusals``).
"""

from __future__ import annotations

from collections.abc import Sequence


class CrmError(Exception):
    """Base of the CRM API's refusals. ``str(exc)`` is the message for the caller."""


class MissingParameters(CrmError):
    """No body, an empty body, or a required top-level parameter missing (``soql``, fields to update)."""


class InvalidJson(CrmError):
    """The body is not I-JSON: not UTF-8, not JSON, or a string holding an unpaired surrogate."""


class UnsupportedMediaType(CrmError):
    """A body sent without ``Content-Type: application/json`` (text/plain, a form, none at all, ...)."""


class ValidationFailed(CrmError):
    """The body is JSON but not an acceptable record or request: unknown fields, wrong types, ..."""

    def __init__(self, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.fields = tuple(fields)


class InvalidRecordId(CrmError):
    """A record id in the path is malformed, has a wrong checksum, or belongs to another object."""


class PayloadTooLarge(CrmError):
    """The body (or the batch) exceeds the configured maximum."""


class QueryRejected(CrmError):
    """A SOQL query or paging cursor this API does not run (not a single read-only SELECT, object not
    allowed, LIMIT too large, a cursor it did not issue or that expired, ...)."""


class ForeignRecords(QueryRejected):
    """Salesforce answered a query page with records of an object outside the allowlist. The guard
    and the signed cursor make this impossible; refusing the page is the defence in depth."""

    def __init__(self, record_type: str) -> None:
        super().__init__("the query returned records this API does not serve")
        self.record_type = record_type  # an object API name, for the log (never a value)


class InvalidIdempotencyKey(CrmError):
    """An ``Idempotency-Key`` header that is empty, too long, repeated or not printable ASCII."""


class IdempotencyKeyReused(CrmError):
    """The ``Idempotency-Key`` was already used for a request with another body (or route)."""


class IdempotencyInProgress(CrmError):
    """A request with the same ``Idempotency-Key`` is still being processed."""


# The machine codes of the API's error envelope (``error_code``). The first ten are the design's
# (salesforce.md §6); 405, 409, 413, 415 and 422 have no code there, so they get their own.
ERROR_CODES: tuple[str, ...] = (
    "MISSING_PARAMETERS",
    "INVALID_JSON",
    "VALIDATION_ERROR",
    "INVALID_ID",
    "NOT_FOUND",
    "QUERY_ERROR",
    "AUTH_ERROR",
    "RATE_LIMITED",
    "UPSTREAM_ERROR",
    "INTERNAL_ERROR",
    "METHOD_NOT_ALLOWED",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "IDEMPOTENCY_IN_PROGRESS",
    "IDEMPOTENCY_KEY_REUSED",
)
