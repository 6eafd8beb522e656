"""The CRM API Lambda (API Gateway REST API, Lambda proxy integration): thin routes over ``claimsync.crm``.

Each route reads its input, calls one ``claimsync.crm`` function and shapes the envelope
(``{"success": true, "data", "timestamp"}``). Errors become HTTP statuses in one place: the exception
handlers below, one per exception type (the domain's refusals and the Salesforce gateway's
failures); an unexpected exception is a 500 ``INTERNAL_ERROR`` whose body says nothing about it.

Settings are read from the environment once per process (``CrmSettings``); the Salesforce
credentials come from Secrets Manager (Powertools parameters, cached five minutes) and the gateway,
with its session, is built once per cold start and reused by warm invocations. When Salesforce
refuses the credentials the gateway is dropped, so the next request re-reads the (maybe rotated)
secret.

Logs carry the route template, method, status, error code and exception type: never a body, a
record value, a path parameter or Salesforce's message.

``POST /query`` cursors are signed with a key from a second secret (``CRM_CURSOR_SECRET_ID``, read
the same way). Creates sent with an ``Idempotency-Key`` go through ``claimsync.crm.idempotency``
(Powertools idempotency over the DynamoDB table ``CRM_IDEMPOTENCY_TABLE``); a replayed answer
carries ``Idempotent-Replayed: true``.

Local/test seam: ``configure(gateway=..., settings=..., cursor_key=..., idempotency=...)`` injects a
gateway (the local API server builds one for the Salesforce emulator), a cursor key and an
idempotency store instead of reading secrets and the environment.

``python -m handlers.crm_api --openapi`` prints the OpenAPI document built from the routes
registered here (committed as docs/openapi.json).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities import parameters

from claimsync import crm
from claimsync.crm import idempotency, openapi, routes
from claimsync.salesforce import (
    SalesforceAuthError,
    SalesforceCredentials,
    SalesforceError,
    SalesforceGateway,
    SalesforceLimitExceeded,
    SalesforceLockError,
    SalesforceNotFound,
    SalesforceQueryError,
    SalesforceRequestError,
    SalesforceUnavailable,
)

logger = Logger(service="claimsync-crm-api")
app = APIGatewayRestResolver()
JSON = "application/json"

# -- settings and the Salesforce gateway -------------------------------------------------------------

_injected: dict[str, Any] = {}


def configure(
    *,
    gateway: SalesforceGateway | None = None,
    settings: crm.CrmSettings | None = None,
    cursor_key: bytes | None = None,
    idempotency: idempotency.IdempotencyStore | None = None,
) -> None:
    """Local and test seam: use this gateway, settings, cursor key and idempotency store instead of
    the secrets, the environment and the DynamoDB table. ``configure()`` with no arguments goes back
    to the production behaviour."""
    _injected.clear()
    for name, value in (
        ("gateway", gateway),
        ("settings", settings),
        ("cursor_key", cursor_key),
        ("idempotency", idempotency),
    ):
        if value is not None:
            _injected[name] = value
    _settings_from_env.cache_clear()
    _gateway_from_secret.cache_clear()
    _store_from_settings.cache_clear()


def settings() -> crm.CrmSettings:
    injected: crm.CrmSettings | None = _injected.get("settings")
    return injected or _settings_from_env()


@functools.cache
def _settings_from_env() -> crm.CrmSettings:
    return crm.CrmSettings.from_env(os.environ)


def salesforce() -> SalesforceGateway:
    injected: SalesforceGateway | None = _injected.get("gateway")
    return injected or _gateway_from_secret()


def cursors() -> crm.CursorCodec:
    """The codec of ``/query`` cursors, keyed from the cursor secret (cached five minutes by
    Powertools parameters, so a rotated key takes effect without a redeploy)."""
    s = settings()
    key: bytes | None = _injected.get("cursor_key")
    if key is None:
        if not s.cursor_secret_id:
            raise crm.CrmConfigError("CRM_CURSOR_SECRET_ID is not set")
        secret = parameters.get_secret(s.cursor_secret_id, max_age=300)
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    return crm.CursorCodec(key, ttl_s=s.cursor_ttl_s)


def idempotency_store() -> idempotency.IdempotencyStore:
    injected: idempotency.IdempotencyStore | None = _injected.get("idempotency")
    return injected or _store_from_settings()


@functools.cache
def _store_from_settings() -> idempotency.IdempotencyStore:
    s = settings()
    if not s.idempotency_table:
        raise crm.CrmConfigError("CRM_IDEMPOTENCY_TABLE is not set")
    return idempotency.IdempotencyStore(s.idempotency_table, ttl_s=s.idempotency_ttl_s)


@functools.cache
def _gateway_from_secret() -> SalesforceGateway:
    s = settings()
    if not s.salesforce_secret_id:
        raise crm.CrmConfigError("CLAIMSYNC_SALESFORCE_SECRET_ID is not set")
    secret = parameters.get_secret(s.salesforce_secret_id, transform="json", max_age=300)
    if not isinstance(secret, dict):
        raise crm.CrmConfigError("the Salesforce secret must hold a JSON object")
    return SalesforceGateway(
        SalesforceCredentials.from_secret(secret),
        api_version=s.salesforce_api_version,
        timeout_s=s.salesforce_timeout_s,
        ca_bundle=s.ca_bundle or None,
    )


# -- envelope --------------------------------------------------------------------------------------


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ok(data: Any, status: int = 200) -> Response[str]:
    body = {"success": True, "data": data, "timestamp": _timestamp()}
    return Response(status_code=status, content_type=JSON, body=json.dumps(body))


def _created(route: str, make: Callable[[Any, str | None], dict[str, Any]]) -> Response[str]:
    """A create's 201 answer: ``make(body, request_key)`` creates and returns the ``data``.

    With an ``Idempotency-Key`` the answer is computed at most once per caller and key and
    replayed after that (``claimsync.crm.idempotency``); ``request_key`` is then the value
    Salesforce deduplicates on, else ``None``."""
    body = _json_body()
    key = idempotency.parse_key(_header_values(idempotency.HEADER))
    if key is None:
        return _ok(make(body, None), 201)
    request = idempotency.KeyedRequest(scope=_caller(), key=key, route=route, body=body)

    def answer() -> dict[str, Any]:
        return {"success": True, "data": make(body, request.salesforce_key), "timestamp": _timestamp()}

    envelope, replayed = idempotency_store().run(request, answer, lambda_context=app.lambda_context)
    headers = {idempotency.REPLAYED_HEADER: "true"} if replayed else None
    return Response(status_code=201, content_type=JSON, body=json.dumps(envelope), headers=headers)


def _caller() -> str:
    """The caller as API Gateway authenticated it: IAM principal and API key id ("" locally)."""
    identity = app.current_event.request_context.identity
    return idempotency.caller_scope(identity.user_arn, identity.api_key_id)


def _fail(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    body = {"success": False, "error": message, "error_code": code, "timestamp": _timestamp()}
    return Response(status_code=status, content_type=JSON, body=json.dumps(body), headers=headers)


def _json_body() -> Any:
    event = app.current_event
    raw: bytes | None = None
    if event.body is not None:
        if event.is_base64_encoded:
            try:
                raw = base64.b64decode(event.body, validate=True)
            except (binascii.Error, ValueError):
                raise crm.InvalidJson("the request body is not valid base64") from None
        else:
            raw = event.body.encode("utf-8", "surrogatepass")
    return crm.parse_json_body(
        raw, max_bytes=settings().max_body_bytes, content_types=_header_values("Content-Type")
    )


def _header_values(name: str) -> list[str]:
    """Every value of a request header (case-insensitive name); API Gateway keeps repeats in
    ``multiValueHeaders`` and only the last one in ``headers``."""
    event = app.current_event
    values = event.multi_value_headers.get(name)
    if values:
        return list(values)
    value = event.headers.get(name)
    return [] if value is None else [value]


# -- routes ----------------------------------------------------------------------------------------


@app.post("/accounts")
def create_account() -> Response[str]:
    def make(body: Any, request_key: str | None) -> dict[str, Any]:
        record_id, values = crm.create_record(salesforce(), crm.ACCOUNT, body, request_key=request_key)
        return {"record_id": record_id, "account_name": values["Name"]}

    return _created("POST /accounts", make)


@app.get("/accounts/<account_id>")
def get_account(account_id: str) -> Response[str]:
    return _ok(crm.get_record(salesforce(), crm.ACCOUNT, account_id))


@app.patch("/accounts/<account_id>")
def update_account(account_id: str) -> Response[str]:
    body = _json_body()
    return _ok(
        {"record_id": crm.update_record(salesforce(), crm.ACCOUNT, account_id, body), "status": "updated"}
    )


@app.delete("/accounts/<account_id>")
def delete_account(account_id: str) -> Response[str]:
    return _ok({"record_id": crm.delete_record(salesforce(), crm.ACCOUNT, account_id), "status": "deleted"})


@app.post("/contacts")
def create_contact() -> Response[str]:
    def make(body: Any, request_key: str | None) -> dict[str, Any]:
        record_id, values = crm.create_record(salesforce(), crm.CONTACT, body, request_key=request_key)
        return {"record_id": record_id, "contact_name": f"{values['FirstName']} {values['LastName']}"}

    return _created("POST /contacts", make)


@app.get("/contacts/<contact_id>")
def get_contact(contact_id: str) -> Response[str]:
    return _ok(crm.get_record(salesforce(), crm.CONTACT, contact_id))


@app.patch("/contacts/<contact_id>")
def update_contact(contact_id: str) -> Response[str]:
    body = _json_body()
    return _ok(
        {"record_id": crm.update_record(salesforce(), crm.CONTACT, contact_id, body), "status": "updated"}
    )


@app.delete("/contacts/<contact_id>")
def delete_contact(contact_id: str) -> Response[str]:
    return _ok({"record_id": crm.delete_record(salesforce(), crm.CONTACT, contact_id), "status": "deleted"})


@app.post("/opportunities")
def create_opportunity() -> Response[str]:
    def make(body: Any, request_key: str | None) -> dict[str, Any]:
        record_id, values = crm.create_record(salesforce(), crm.OPPORTUNITY, body, request_key=request_key)
        return {"record_id": record_id, "opportunity_name": values["Name"], "amount": values.get("Amount")}

    return _created("POST /opportunities", make)


@app.get("/opportunities/<opportunity_id>")
def get_opportunity(opportunity_id: str) -> Response[str]:
    return _ok(crm.get_record(salesforce(), crm.OPPORTUNITY, opportunity_id))


@app.patch("/opportunities/<opportunity_id>")
def update_opportunity(opportunity_id: str) -> Response[str]:
    body = _json_body()
    record_id = crm.update_record(salesforce(), crm.OPPORTUNITY, opportunity_id, body)
    return _ok({"record_id": record_id, "status": "updated"})


@app.delete("/opportunities/<opportunity_id>")
def delete_opportunity(opportunity_id: str) -> Response[str]:
    record_id = crm.delete_record(salesforce(), crm.OPPORTUNITY, opportunity_id)
    return _ok({"record_id": record_id, "status": "deleted"})


@app.post("/query")
def query() -> Response[str]:
    body = _json_body()
    page = crm.run_query(salesforce(), settings().query, body, cursors())
    data: dict[str, Any] = {"total_size": page.total_size, "done": page.done, "records": page.records}
    if page.next:
        data["next"] = page.next
    return _ok(data)


@app.post("/batch/accounts")
def batch_accounts() -> Response[str]:
    def make(body: Any, request_key: str | None) -> dict[str, Any]:
        result = crm.batch_create(
            salesforce(), crm.ACCOUNT, body, max_records=settings().batch_max, request_key=request_key
        )
        return {
            "total": result.total,
            "successful": result.successful,
            "failed": result.failed,
            "results": [
                {"success": r.success, "record_id": r.record_id, "error": r.error} for r in result.results
            ],
        }

    return _created("POST /batch/accounts", make)


@app.get("/health")
def health() -> Response[str]:
    """Always 200: ``degraded`` when Salesforce cannot be reached or the credentials cannot be read."""
    try:
        s = settings()
    except crm.CrmConfigError:
        s = crm.CrmSettings()
    try:
        connected = crm.salesforce_connected(salesforce())
    except Exception as exc:  # a missing or unreadable secret must not fail the health check
        logger.warning(
            "health check could not build the Salesforce gateway", extra={"error": type(exc).__name__}
        )
        connected = False
    return _ok(
        {
            "status": "healthy" if connected else "degraded",
            "salesforce_connected": connected,
            "function": s.function_name,
            "version": s.function_version,
        }
    )


# -- errors: the one place they become HTTP statuses --------------------------------------------------


def _refuse(
    exc: Exception, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response[str]:
    extra = {"error_code": code, "error": type(exc).__name__, "status": status}
    if isinstance(exc, SalesforceError):
        extra["salesforce_code"] = exc.code  # codes only: exc.detail may echo values
    if status >= 500:
        logger.error("request failed", extra=extra)
    else:
        logger.info("request refused", extra=extra)
    return _fail(status, code, message, headers)


@app.exception_handler(crm.MissingParameters)
def _missing_parameters(exc: crm.MissingParameters) -> Response[str]:
    return _refuse(exc, 400, "MISSING_PARAMETERS", str(exc))


@app.exception_handler(crm.InvalidJson)
def _invalid_json(exc: crm.InvalidJson) -> Response[str]:
    return _refuse(exc, 400, "INVALID_JSON", str(exc))


@app.exception_handler(crm.UnsupportedMediaType)
def _unsupported_media_type(exc: crm.UnsupportedMediaType) -> Response[str]:
    return _refuse(exc, 415, "UNSUPPORTED_MEDIA_TYPE", str(exc))


@app.exception_handler(crm.ValidationFailed)
def _validation_failed(exc: crm.ValidationFailed) -> Response[str]:
    return _refuse(exc, 400, "VALIDATION_ERROR", str(exc))


@app.exception_handler(crm.InvalidRecordId)
def _invalid_id(exc: crm.InvalidRecordId) -> Response[str]:
    return _refuse(exc, 400, "INVALID_ID", str(exc))


@app.exception_handler(crm.ForeignRecords)
def _foreign_records(exc: crm.ForeignRecords) -> Response[str]:
    # Cannot happen unless the guard or the cursor key failed: worth a warning with the object name.
    logger.warning("query page refused: a record of an object outside the allowlist",
                   extra={"record_type": exc.record_type})  # fmt: skip
    return _refuse(exc, 400, "QUERY_ERROR", str(exc))


@app.exception_handler(crm.QueryRejected)
def _query_rejected(exc: crm.QueryRejected) -> Response[str]:
    return _refuse(exc, 400, "QUERY_ERROR", str(exc))


@app.exception_handler(crm.InvalidIdempotencyKey)
def _invalid_idempotency_key(exc: crm.InvalidIdempotencyKey) -> Response[str]:
    return _refuse(exc, 400, "VALIDATION_ERROR", str(exc))


@app.exception_handler(crm.IdempotencyInProgress)
def _idempotency_in_progress(exc: crm.IdempotencyInProgress) -> Response[str]:
    return _refuse(exc, 409, "IDEMPOTENCY_IN_PROGRESS", str(exc), {"Retry-After": "1"})


@app.exception_handler(crm.IdempotencyKeyReused)
def _idempotency_key_reused(exc: crm.IdempotencyKeyReused) -> Response[str]:
    return _refuse(exc, 422, "IDEMPOTENCY_KEY_REUSED", str(exc))


@app.exception_handler(crm.PayloadTooLarge)
def _too_large(exc: crm.PayloadTooLarge) -> Response[str]:
    return _refuse(exc, 413, "PAYLOAD_TOO_LARGE", str(exc))


@app.exception_handler(SalesforceNotFound)
def _sf_not_found(exc: SalesforceNotFound) -> Response[str]:
    return _refuse(exc, 404, "NOT_FOUND", "no such record")


@app.exception_handler(SalesforceQueryError)
def _sf_query_error(exc: SalesforceQueryError) -> Response[str]:
    # INVALID_FIELD / INVALID_TYPE are query errors on /query, validation errors anywhere else.
    code = "QUERY_ERROR" if exc.operation.startswith("query") else "VALIDATION_ERROR"
    return _refuse(exc, 400, code, f"Salesforce: {exc.code}: {exc.detail}")


@app.exception_handler(SalesforceRequestError)
def _sf_request_error(exc: SalesforceRequestError) -> Response[str]:
    if exc.status == 400:  # Salesforce's validation (REQUIRED_FIELD_MISSING, STRING_TOO_LONG, ...)
        return _refuse(exc, 400, "VALIDATION_ERROR", f"Salesforce: {exc.code}: {exc.detail}")
    if exc.status == 404:  # ENTITY_IS_DELETED and other "not there (any more)" codes
        return _refuse(exc, 404, "NOT_FOUND", "no such record")
    return _refuse(exc, 500, "INTERNAL_ERROR", "internal error")  # 403 INSUFFICIENT_ACCESS & co


@app.exception_handler(SalesforceLimitExceeded)
def _sf_limit(exc: SalesforceLimitExceeded) -> Response[str]:
    retry_after = str(settings().retry_after_s)
    message = "Salesforce's API request limit is exhausted; retry later"
    return _refuse(exc, 429, "RATE_LIMITED", message, {"Retry-After": retry_after})


@app.exception_handler(SalesforceAuthError)
def _sf_auth(exc: SalesforceAuthError) -> Response[str]:
    _gateway_from_secret.cache_clear()  # the next request re-reads the (maybe rotated) secret
    return _refuse(exc, 502, "AUTH_ERROR", "Salesforce refused this API's credentials")


@app.exception_handler(SalesforceUnavailable)
def _sf_unavailable(exc: SalesforceUnavailable) -> Response[str]:
    return _refuse(exc, 502, "UPSTREAM_ERROR", "Salesforce is unavailable or timed out; retry later")


@app.exception_handler(SalesforceLockError)
def _sf_lock(exc: SalesforceLockError) -> Response[str]:
    return _refuse(exc, 502, "UPSTREAM_ERROR", "Salesforce could not lock the record; retry later")


@app.exception_handler(SalesforceError)
def _sf_other(exc: SalesforceError) -> Response[str]:
    return _refuse(exc, 500, "INTERNAL_ERROR", "internal error")


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response[str]:
    return _refuse(exc, 500, "INTERNAL_ERROR", "internal error")


@app.not_found
def _no_route(exc: NotFoundError) -> Response[str]:
    event = app.current_event
    allowed = routes.allowed_methods(event.path)
    if event.http_method in allowed:
        # The resource exists and answers this method, but Powertools' router refused the path
        # parameter's characters: every path parameter of this API is a record id.
        return _refuse(exc, 400, "INVALID_ID", "record id may contain only letters and digits")
    if allowed:
        message = f"{event.http_method} is not allowed here; allowed: {', '.join(allowed)}"
        return _refuse(exc, 405, "METHOD_NOT_ALLOWED", message, {"Allow": ", ".join(allowed)})
    return _refuse(exc, 404, "NOT_FOUND", "no such route")


# -- entry point -----------------------------------------------------------------------------------

_KNOWN_RESOURCES = frozenset(r.path for r in routes.ROUTES)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    response: dict[str, Any] = app.resolve(event, context)
    resource = event.get("resource")
    logger.info(
        "request",
        extra={
            "method": event.get("httpMethod"),
            "resource": resource if resource in _KNOWN_RESOURCES else "(unrouted)",
            "status": response.get("statusCode"),
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return response


def registered_routes() -> list[tuple[str, str]]:
    """(method, API Gateway path) of every route registered on the resolver."""
    registered = app._static_routes + app._dynamic_routes  # Powertools keeps no public list
    return [(r.method, r.openapi_path) for r in registered]


def openapi_document() -> dict[str, Any]:
    return openapi.build_openapi(registered_routes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handlers.crm_api", description="CRM API tools")
    parser.add_argument("--openapi", action="store_true", help="print the OpenAPI document (JSON)")
    args = parser.parse_args(argv)
    if not args.openapi:
        parser.print_help()
        return 2
    sys.stdout.write(openapi.render(openapi_document()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
