"""Salesforce's failures as local exceptions, and the one table from a Salesforce error code to them.

``str(exc)`` holds the error code and the operation, never a value: Salesforce's own message (which
can echo field values) is kept in ``detail`` only. Log ``exc.code`` — never ``exc.detail``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from claimsync.errors import ClaimsyncError

if TYPE_CHECKING:
    import requests

UNKNOWN_ERROR = "UNKNOWN_ERROR"


class SalesforceError(ClaimsyncError):
    """A Salesforce call failed. ``str(exc)`` holds the error code and the operation, never values."""

    def __init__(
        self,
        code: str,
        *,
        status: int | None = None,
        operation: str = "",
        detail: str = "",
        fields: Sequence[str] = (),
    ) -> None:
        self.code = code
        self.status = status
        self.operation = operation
        self.detail = detail  # Salesforce's own message; may contain values: never log it
        self.fields = tuple(fields)
        super().__init__(f"{code} ({operation}, HTTP {status})" if status else f"{code} ({operation})")


class SalesforceUnavailable(SalesforceError):
    """5xx, timeouts, connection failures: worth retrying later."""

    transient = True


class SalesforceLimitExceeded(SalesforceError):
    """REQUEST_LIMIT_EXCEEDED: the org's API allocation (or concurrency) is exhausted."""

    transient = True


class SalesforceLockError(SalesforceError):
    """UNABLE_TO_LOCK_ROW on a synchronous call."""

    transient = True


class SalesforceAuthError(SalesforceError):
    """Login failed, or the session stayed invalid after one re-login."""


class SalesforceNotFound(SalesforceError):
    """The record or resource does not exist."""


class SalesforceQueryError(SalesforceError):
    """SOQL rejected: MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE."""


class SalesforceRequestError(SalesforceError):
    """Any other 4xx: validation errors (REQUIRED_FIELD_MISSING, STRING_TOO_LONG, ...)."""


_ERRORS: dict[str, type[SalesforceError]] = {
    "REQUEST_LIMIT_EXCEEDED": SalesforceLimitExceeded,
    "INVALID_SESSION_ID": SalesforceAuthError,
    "NOT_FOUND": SalesforceNotFound,
    "MALFORMED_QUERY": SalesforceQueryError,
    "INVALID_FIELD": SalesforceQueryError,
    "INVALID_TYPE": SalesforceQueryError,
    "INVALID_QUERY_LOCATOR": SalesforceQueryError,
    "SERVER_UNAVAILABLE": SalesforceUnavailable,
    "UNABLE_TO_LOCK_ROW": SalesforceLockError,
}

# Record-level codes worth another attempt (Bulk failedResults, Collections results).
TRANSIENT_RECORD_ERRORS = frozenset(
    {"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION"}
)


def error_class(code: str, status: int) -> type[SalesforceError]:
    """The exception for an error ``code`` answered with HTTP ``status``: by the code when the table
    knows it, else by the status (5xx: unavailable, anything else: the request was refused)."""
    if code in _ERRORS:
        return _ERRORS[code]
    return SalesforceUnavailable if status >= 500 else SalesforceRequestError


def error_from_response(resp: requests.Response, operation: str) -> SalesforceError:
    """The exception for a failed response (status ≥ 300), from its body's error code."""
    code, detail, fields = _error_body(resp)
    if resp.status_code == 404 and code == UNKNOWN_ERROR:
        code = "NOT_FOUND"
    cls = error_class(code, resp.status_code)
    return cls(code, status=resp.status_code, operation=operation, detail=detail, fields=fields)


def _error_body(resp: requests.Response) -> tuple[str, str, tuple[str, ...]]:
    """(code, message, fields) from the REST error shape (a list of errors: the first counts) or the
    OAuth one (``error``, ``error_description``); a body of neither shape is ``UNKNOWN_ERROR``."""
    try:
        body: Any = resp.json()
    except ValueError:
        return UNKNOWN_ERROR, "", ()
    if isinstance(body, list) and body and isinstance(body[0], Mapping):
        first = body[0]
        code = str(first.get("errorCode") or UNKNOWN_ERROR)
        return code, str(first.get("message") or ""), tuple(first.get("fields") or ())
    if isinstance(body, Mapping) and "error" in body:
        return str(body.get("error")), str(body.get("error_description") or ""), ()
    return UNKNOWN_ERROR, "", ()
