"""The CRM API Lambda (API Gateway REST API, Lambda proxy integration): thin routes over ``claimsync.crm``.

The resolver is built from the object declarations (``build_app(claimsync.crm.OBJECTS)``): every
route of ``claimsync.crm.routes`` is registered in one loop, and what it does depends only on its
kind (``VIEWS``: create, get, update, delete, batch, query, health). Each view reads its input, calls
one ``claimsync.crm`` function and shapes the envelope (``{"success": true, "data", "timestamp"}``).
Errors become HTTP statuses in one place: the tables ``REFUSALS`` and ``ERROR_HANDLERS`` below, one
entry per exception type (the domain's refusals and the Salesforce gateway's failures); an
unexpected exception is a 500 ``INTERNAL_ERROR`` whose body says nothing about it.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities import parameters

from claimsync import crm
from claimsync.crm import idempotency, openapi, routes
from claimsync.salesforce.auth import SalesforceCredentials
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
from claimsync.salesforce.gateway import SalesforceGateway

logger = Logger(service="claimsync-crm-api")
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


def _fail(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    body = {"success": False, "error": message, "error_code": code, "timestamp": _timestamp()}
    return Response(status_code=status, content_type=JSON, body=json.dumps(body), headers=headers)


# -- one request -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request to one route of a resolver built by ``build_app``."""

    resolver: APIGatewayRestResolver
    route: routes.Route
    served: tuple[crm.CrmObject, ...]  # every object the resolver serves (the SOQL allowlist)
    params: dict[str, str]

    @property
    def obj(self) -> crm.CrmObject:
        if self.route.obj is None:  # /query and /health: their views never ask
            raise TypeError(f"{self.route.key} serves no object")
        return self.route.obj

    @property
    def record_id(self) -> str:
        return self.params[self.obj.id_param]

    def json_body(self) -> Any:
        event = self.resolver.current_event
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
            raw, max_bytes=settings().max_body_bytes, content_types=self.header_values("Content-Type")
        )

    def header_values(self, name: str) -> list[str]:
        """Every value of a request header (case-insensitive name); API Gateway keeps repeats in
        ``multiValueHeaders`` and only the last one in ``headers``."""
        event = self.resolver.current_event
        values = event.multi_value_headers.get(name)
        if values:
            return list(values)
        value = event.headers.get(name)
        return [] if value is None else [value]

    def caller(self) -> str:
        """The caller as API Gateway authenticated it: IAM principal and API key id ("" locally)."""
        identity = self.resolver.current_event.request_context.identity
        return idempotency.caller_scope(identity.user_arn, identity.api_key_id)

    def created(self, make: Callable[[Any, str | None], dict[str, Any]]) -> Response[str]:
        """A create's 201 answer: ``make(body, request_key)`` creates and returns the ``data``.

        With an ``Idempotency-Key`` (on an object that declares a request key field) the answer is
        computed at most once per caller and key and replayed after that
        (``claimsync.crm.idempotency``); ``request_key`` is then the value Salesforce deduplicates
        on, else ``None``."""
        body = self.json_body()
        keyed = self.obj.request_key_field is not None
        key = idempotency.parse_key(self.header_values(idempotency.HEADER)) if keyed else None
        if key is None:
            return _ok(make(body, None), 201)
        request = idempotency.KeyedRequest(scope=self.caller(), key=key, route=self.route.key, body=body)

        def answer() -> dict[str, Any]:
            return {"success": True, "data": make(body, request.salesforce_key), "timestamp": _timestamp()}

        context = self.resolver.lambda_context
        envelope, replayed = idempotency_store().run(request, answer, lambda_context=context)
        headers = {idempotency.REPLAYED_HEADER: "true"} if replayed else None
        return Response(status_code=201, content_type=JSON, body=json.dumps(envelope), headers=headers)


# -- what each kind of route does: read the input, call one claimsync.crm function, shape the data --


def _create(call: Call) -> Response[str]:
    def make(body: Any, request_key: str | None) -> dict[str, Any]:
        record_id, values = crm.create_record(salesforce(), call.obj, body, request_key=request_key)
        return call.obj.created_answer(record_id, values)

    return call.created(make)


def _get(call: Call) -> Response[str]:
    return _ok(crm.get_record(salesforce(), call.obj, call.record_id))


def _update(call: Call) -> Response[str]:
    body = call.json_body()
    return _ok(
        {"record_id": crm.update_record(salesforce(), call.obj, call.record_id, body), "status": "updated"}
    )


def _delete(call: Call) -> Response[str]:
    return _ok({"record_id": crm.delete_record(salesforce(), call.obj, call.record_id), "status": "deleted"})


def _query(call: Call) -> Response[str]:
    body = call.json_body()
    policy = settings().query_policy(o.sobject for o in call.served)
    page = crm.run_query(salesforce(), policy, body, cursors())
    data: dict[str, Any] = {"total_size": page.total_size, "done": page.done, "records": page.records}
    if page.next:
        data["next"] = page.next
    return _ok(data)


def _batch(call: Call) -> Response[str]:
    def make(body: Any, request_key: str | None) -> dict[str, Any]:
        result = crm.batch_create(
            salesforce(), call.obj, body, max_records=settings().batch_max, request_key=request_key
        )
        return {
            "total": result.total,
            "successful": result.successful,
            "failed": result.failed,
            "results": [
                {"success": r.success, "record_id": r.record_id, "error": r.error} for r in result.results
            ],
        }

    return call.created(make)


def _health(call: Call) -> Response[str]:
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


VIEWS: dict[routes.Action, Callable[[Call], Response[str]]] = {
    "create": _create,
    "get": _get,
    "update": _update,
    "delete": _delete,
    "query": _query,
    "batch": _batch,
    "health": _health,
}


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


# (exception, status, error code, message: None for the exception's own, which names no value)
REFUSALS: tuple[tuple[type[Exception], int, str, str | None], ...] = (
    (crm.MissingParameters, 400, "MISSING_PARAMETERS", None),
    (crm.InvalidJson, 400, "INVALID_JSON", None),
    (crm.UnsupportedMediaType, 415, "UNSUPPORTED_MEDIA_TYPE", None),
    (crm.ValidationFailed, 400, "VALIDATION_ERROR", None),
    (crm.InvalidRecordId, 400, "INVALID_ID", None),
    (crm.QueryRejected, 400, "QUERY_ERROR", None),
    (crm.InvalidIdempotencyKey, 400, "VALIDATION_ERROR", None),
    (crm.IdempotencyKeyReused, 422, "IDEMPOTENCY_KEY_REUSED", None),
    (crm.PayloadTooLarge, 413, "PAYLOAD_TOO_LARGE", None),
    (SalesforceNotFound, 404, "NOT_FOUND", "no such record"),
    (SalesforceUnavailable, 502, "UPSTREAM_ERROR", "Salesforce is unavailable or timed out; retry later"),
    (SalesforceLockError, 502, "UPSTREAM_ERROR", "Salesforce could not lock the record; retry later"),
    (SalesforceError, 500, "INTERNAL_ERROR", "internal error"),
    (Exception, 500, "INTERNAL_ERROR", "internal error"),
)


def _refusal(status: int, code: str, message: str | None) -> Callable[[Exception], Response[str]]:
    def handle(exc: Exception) -> Response[str]:
        return _refuse(exc, status, code, str(exc) if message is None else message)

    return handle


def _foreign_records(exc: crm.ForeignRecords) -> Response[str]:
    # Cannot happen unless the guard or the cursor key failed: worth a warning with the object name.
    logger.warning("query page refused: a record of an object outside the allowlist",
                   extra={"record_type": exc.record_type})  # fmt: skip
    return _refuse(exc, 400, "QUERY_ERROR", str(exc))


def _idempotency_in_progress(exc: crm.IdempotencyInProgress) -> Response[str]:
    return _refuse(exc, 409, "IDEMPOTENCY_IN_PROGRESS", str(exc), {"Retry-After": "1"})


def _sf_query_error(exc: SalesforceQueryError) -> Response[str]:
    # INVALID_FIELD / INVALID_TYPE are query errors on /query, validation errors anywhere else.
    code = "QUERY_ERROR" if exc.operation.startswith("query") else "VALIDATION_ERROR"
    return _refuse(exc, 400, code, f"Salesforce: {exc.code}: {exc.detail}")


def _sf_request_error(exc: SalesforceRequestError) -> Response[str]:
    if exc.status == 400:  # Salesforce's validation (REQUIRED_FIELD_MISSING, STRING_TOO_LONG, ...)
        return _refuse(exc, 400, "VALIDATION_ERROR", f"Salesforce: {exc.code}: {exc.detail}")
    if exc.status == 404:  # ENTITY_IS_DELETED and other "not there (any more)" codes
        return _refuse(exc, 404, "NOT_FOUND", "no such record")
    return _refuse(exc, 500, "INTERNAL_ERROR", "internal error")  # 403 INSUFFICIENT_ACCESS & co


def _sf_limit(exc: SalesforceLimitExceeded) -> Response[str]:
    retry_after = str(settings().retry_after_s)
    message = "Salesforce's API request limit is exhausted; retry later"
    return _refuse(exc, 429, "RATE_LIMITED", message, {"Retry-After": retry_after})


def _sf_auth(exc: SalesforceAuthError) -> Response[str]:
    _gateway_from_secret.cache_clear()  # the next request re-reads the (maybe rotated) secret
    return _refuse(exc, 502, "AUTH_ERROR", "Salesforce refused this API's credentials")


# Handlers with more to do than one status and message; Powertools picks the most specific class.
ERROR_HANDLERS: tuple[tuple[type[Exception], Callable[[Any], Response[str]]], ...] = (
    *((exc, _refusal(status, code, message)) for exc, status, code, message in REFUSALS),
    (crm.ForeignRecords, _foreign_records),
    (crm.IdempotencyInProgress, _idempotency_in_progress),
    (SalesforceQueryError, _sf_query_error),
    (SalesforceRequestError, _sf_request_error),
    (SalesforceLimitExceeded, _sf_limit),
    (SalesforceAuthError, _sf_auth),
)


def _no_route(
    resolver: APIGatewayRestResolver, table: Sequence[routes.Route], exc: NotFoundError
) -> Response[str]:
    event = resolver.current_event
    allowed = routes.allowed_methods(event.path, table)
    if event.http_method in allowed:
        # The resource exists and answers this method, but Powertools' router refused the path
        # parameter's characters: every path parameter of this API is a record id.
        return _refuse(exc, 400, "INVALID_ID", "record id may contain only letters and digits")
    if allowed:
        message = f"{event.http_method} is not allowed here; allowed: {', '.join(allowed)}"
        return _refuse(exc, 405, "METHOD_NOT_ALLOWED", message, {"Allow": ", ".join(allowed)})
    return _refuse(exc, 404, "NOT_FOUND", "no such route")


# -- the resolver, built from the object declarations --------------------------------------------------


def build_app(objects: Sequence[crm.CrmObject] = crm.OBJECTS) -> APIGatewayRestResolver:
    """A Powertools resolver serving ``objects``: every route of ``routes.routes_for(objects)``
    registered in one loop, every error mapped by the tables above."""
    resolver = APIGatewayRestResolver()
    served = tuple(objects)
    table = routes.routes_for(served)
    for route in table:
        resolver.route(_rule(route.path), route.method)(_view(resolver, route, served))
    for exc_class, handle in ERROR_HANDLERS:
        resolver.exception_handler(exc_class)(handle)
    resolver.not_found(functools.partial(_no_route, resolver, table))
    return resolver


def _rule(path: str) -> str:
    """API Gateway's ``/accounts/{account_id}`` as Powertools' ``/accounts/<account_id>``."""
    return path.replace("{", "<").replace("}", ">")


def _view(
    resolver: APIGatewayRestResolver, route: routes.Route, served: tuple[crm.CrmObject, ...]
) -> Callable[..., Response[str]]:
    action = VIEWS[route.action]

    def view(**params: str) -> Response[str]:
        return action(Call(resolver, route, served, params))

    view.__name__ = f"{route.action}_{route.obj.singular if route.obj else route.action}"
    return view


app = build_app()


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


def registered_routes(resolver: APIGatewayRestResolver = app) -> list[tuple[str, str]]:
    """(method, API Gateway path) of every route registered on ``resolver``."""
    registered = resolver._static_routes + resolver._dynamic_routes  # Powertools keeps no public list
    return [(r.method, r.openapi_path) for r in registered]


def openapi_document(
    resolver: APIGatewayRestResolver = app, objects: Sequence[crm.CrmObject] = crm.OBJECTS
) -> dict[str, Any]:
    """The OpenAPI document of ``resolver`` (built by ``build_app(objects)``)."""
    return openapi.build_openapi(registered_routes(resolver), routes.routes_for(objects))


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
