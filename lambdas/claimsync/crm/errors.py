"""The CRM API's domain errors: what a caller did wrong, named once, mapped to HTTP in one place.

The messages are written for the API caller and name fields, never the values the caller sent, so
they are safe to return. They are still not logged: handlers log the error type and code only.
Salesforce's own failures arrive as ``claimsync.salesforce.SalesforceError`` subclasses and are
mapped next to these (see ``handlers.crm_api``).
"""

from __future__ import annotations

from collections.abc import Sequence


class CrmError(Exception):
    """Base of the CRM API's refusals. ``str(exc)`` is the message for the caller."""


class MissingParameters(CrmError):
    """No body, an empty body, or a required top-level parameter missing (``soql``, fields to update)."""


class InvalidJson(CrmError):
    """The body is not JSON (or not UTF-8)."""


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
    allowed, LIMIT too large, ...)."""


# The machine codes of the API's error envelope (``error_code``). The first ten are the design's
# (salesforce.md §6); 405 and 413 have no code there, so they get their own.
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
)
