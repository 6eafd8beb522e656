"""Errors become HTTP statuses here, and nowhere else: one entry per exception type.

``REFUSALS`` maps the domain's refusals (``claimsync.crm.errors``) and the Salesforce gateway's
failures (``claimsync.salesforce``) to a status, an ``error_code`` and a message; ``SPECIAL`` holds
the few that need more (a header, a log warning, a status that depends on what Salesforce said, or
dropping the cached gateway). ``refusal`` picks the entry of the most specific class in the
exception's ancestry, so an unexpected exception is a 500 ``INTERNAL_ERROR`` whose body says nothing
about it. ``no_route`` answers a path or method the API does not serve.

Each answer carries one log note with the error code, the exception type and Salesforce's error
code: never a body, a record value, a path parameter or Salesforce's message (it may echo values).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from claimsync.crm import errors
from claimsync.crm.api import Services
from claimsync.crm.envelope import Answer, Note, failure
from claimsync.crm.routes import ROUTES, Route, allowed_methods
from claimsync.salesforce.errors import (
    SalesforceAuthError,
    SalesforceError,
    SalesforceLimitExceeded,
    SalesforceLockError,
    SalesforceNotFound,
    SalesforceQueryError,
    SalesforceRequestError,
    SalesforceUnavailable,
)

# (exception, status, error code, message: None for the exception's own, which names no value)
REFUSALS: tuple[tuple[type[Exception], int, str, str | None], ...] = (
    (errors.MissingParameters, 400, "MISSING_PARAMETERS", None),
    (errors.InvalidJson, 400, "INVALID_JSON", None),
    (errors.UnsupportedMediaType, 415, "UNSUPPORTED_MEDIA_TYPE", None),
    (errors.ValidationFailed, 400, "VALIDATION_ERROR", None),
    (errors.InvalidRecordId, 400, "INVALID_ID", None),
    (errors.QueryRejected, 400, "QUERY_ERROR", None),
    (errors.InvalidIdempotencyKey, 400, "VALIDATION_ERROR", None),
    (errors.IdempotencyKeyReused, 422, "IDEMPOTENCY_KEY_REUSED", None),
    (errors.PayloadTooLarge, 413, "PAYLOAD_TOO_LARGE", None),
    (SalesforceNotFound, 404, "NOT_FOUND", "no such record"),
    (SalesforceUnavailable, 502, "UPSTREAM_ERROR", "Salesforce is unavailable or timed out; retry later"),
    (SalesforceLockError, 502, "UPSTREAM_ERROR", "Salesforce could not lock the record; retry later"),
    (SalesforceError, 500, "INTERNAL_ERROR", "internal error"),
    (Exception, 500, "INTERNAL_ERROR", "internal error"),
)


def refused(
    exc: BaseException, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Answer:
    """The error envelope, and its log note (``info`` for a refusal, ``error`` for a 5xx)."""
    fields: dict[str, Any] = {"error_code": code, "error": type(exc).__name__, "status": status}
    if isinstance(exc, SalesforceError):
        fields["salesforce_code"] = exc.code  # codes only: exc.detail may echo values
    note = (
        Note("error", "request failed", fields) if status >= 500 else Note("info", "request refused", fields)
    )
    return Answer(status, failure(code, message), headers, (note,))


# -- the entries with more to do than one status and message ------------------------------------------


def _foreign_records(exc: errors.ForeignRecords, services: Services) -> Answer:
    # Cannot happen unless the guard or the cursor key failed: worth a warning with the object name.
    answer = refused(exc, 400, "QUERY_ERROR", str(exc))
    message = "query page refused: a record of an object outside the allowlist"
    warning = Note("warning", message, {"record_type": exc.record_type})
    return Answer(answer.status, answer.body, answer.headers, (warning, *answer.notes))


def _idempotency_in_progress(exc: errors.IdempotencyInProgress, services: Services) -> Answer:
    return refused(exc, 409, "IDEMPOTENCY_IN_PROGRESS", str(exc), {"Retry-After": "1"})


def _sf_query_error(exc: SalesforceQueryError, services: Services) -> Answer:
    # INVALID_FIELD / INVALID_TYPE are query errors on /query, validation errors anywhere else.
    code = "QUERY_ERROR" if exc.operation.startswith("query") else "VALIDATION_ERROR"
    return refused(exc, 400, code, f"Salesforce: {exc.code}: {exc.detail}")


def _sf_request_error(exc: SalesforceRequestError, services: Services) -> Answer:
    if exc.status == 400:  # Salesforce's validation (REQUIRED_FIELD_MISSING, STRING_TOO_LONG, ...)
        return refused(exc, 400, "VALIDATION_ERROR", f"Salesforce: {exc.code}: {exc.detail}")
    if exc.status == 404:  # ENTITY_IS_DELETED and other "not there (any more)" codes
        return refused(exc, 404, "NOT_FOUND", "no such record")
    return refused(exc, 500, "INTERNAL_ERROR", "internal error")  # 403 INSUFFICIENT_ACCESS & co


def _sf_limit(exc: SalesforceLimitExceeded, services: Services) -> Answer:
    retry_after = str(services.settings().retry_after_s)
    message = "Salesforce's API request limit is exhausted; retry later"
    return refused(exc, 429, "RATE_LIMITED", message, {"Retry-After": retry_after})


def _sf_auth(exc: SalesforceAuthError, services: Services) -> Answer:
    services.forget_salesforce()  # the next request re-reads the (maybe rotated) secret
    return refused(exc, 502, "AUTH_ERROR", "Salesforce refused this API's credentials")


SPECIAL: tuple[tuple[type[Exception], Callable[[Any, Services], Answer]], ...] = (
    (errors.ForeignRecords, _foreign_records),
    (errors.IdempotencyInProgress, _idempotency_in_progress),
    (SalesforceQueryError, _sf_query_error),
    (SalesforceRequestError, _sf_request_error),
    (SalesforceLimitExceeded, _sf_limit),
    (SalesforceAuthError, _sf_auth),
)


def _plain(status: int, code: str, message: str | None) -> Callable[[Exception, Services], Answer]:
    def handle(exc: Exception, services: Services) -> Answer:
        return refused(exc, status, code, str(exc) if message is None else message)

    return handle


_BY_CLASS: dict[type[BaseException], Callable[[Any, Services], Answer]] = {
    **{exc: _plain(status, code, message) for exc, status, code, message in REFUSALS},
    **dict(SPECIAL),
}


def refusal(exc: Exception, services: Services) -> Answer:
    """The answer to ``exc``: the entry of the most specific class it is an instance of."""
    handle = next(_BY_CLASS[cls] for cls in type(exc).__mro__ if cls in _BY_CLASS)
    return handle(exc, services)


def no_route(exc: Exception, method: str, path: str, routes: Sequence[Route] = ROUTES) -> Answer:
    """A request the router found no route for (``exc``: the router's exception, named in the log)."""
    allowed = allowed_methods(path, routes)
    if method in allowed:
        # The resource exists and answers this method, but the router refused the path
        # parameter's characters: every path parameter of this API is a record id.
        return refused(exc, 400, "INVALID_ID", "record id may contain only letters and digits")
    if allowed:
        message = f"{method} is not allowed here; allowed: {', '.join(allowed)}"
        return refused(exc, 405, "METHOD_NOT_ALLOWED", message, {"Allow": ", ".join(allowed)})
    return refused(exc, 404, "NOT_FOUND", "no such route")
