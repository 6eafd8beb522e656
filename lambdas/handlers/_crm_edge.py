"""The CRM API's edge: settings read once, cached clients, the Powertools resolver, the log.

Settings are read from the environment once per process (``CrmSettings``); the Salesforce
credentials come from Secrets Manager (Powertools parameters, cached five minutes) and the gateway,
with its session, is built once per cold start and reused by warm invocations. When Salesforce
refuses the credentials the gateway is dropped (``Services.forget_salesforce``), so the next request
re-reads the (maybe rotated) secret. ``POST /query`` cursors are signed with a key from a second
secret (``CRM_CURSOR_SECRET_ID``, read the same way); keyed creates go through the Powertools
idempotency store over the DynamoDB table ``CRM_IDEMPOTENCY_TABLE``.

``build_app`` registers every route of ``claimsync.crm.routes`` on a Powertools
``APIGatewayRestResolver`` in one loop: each view turns the event into a ``claimsync.crm.api.Request``
and answers ``claimsync.crm.api.answer(request, services)``; every exception goes through
``claimsync.crm.refusals`` (the one place errors become statuses), an unknown route through
``refusals.no_route``. Logs carry the route template, method, status, error code and exception type:
never a body, a record value, a path parameter or Salesforce's message.

Local/test seam: ``configure(gateway=..., settings=..., cursor_key=..., idempotency=...)`` injects a
gateway (the local API server builds one for the Salesforce emulator), a cursor key and an
idempotency store instead of reading secrets and the environment.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities import parameters

from claimsync import crm
from claimsync.crm import api, idempotency, openapi, refusals, routes
from claimsync.crm.envelope import Answer
from claimsync.salesforce.auth import SalesforceCredentials
from claimsync.salesforce.gateway import SalesforceGateway

logger = Logger(service="claimsync-crm-api")

# -- settings and clients, once per process ------------------------------------------------------------

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
    given = {"gateway": gateway, "settings": settings, "cursor_key": cursor_key, "idempotency": idempotency}
    _injected.update({name: value for name, value in given.items() if value is not None})
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


class LambdaServices:
    """``claimsync.crm.api.Services`` for one invocation: the process's settings and clients."""

    def __init__(self, lambda_context: Any) -> None:
        self.lambda_context = lambda_context  # bounds how long a dead keyed request holds its key

    def settings(self) -> crm.CrmSettings:
        return settings()

    def salesforce(self) -> SalesforceGateway:
        return salesforce()

    def cursors(self) -> crm.CursorCodec:
        return cursors()

    def remember(
        self, request: idempotency.KeyedRequest, answer: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        envelope, replayed = idempotency_store().run(request, answer, lambda_context=self.lambda_context)
        return envelope, replayed

    def forget_salesforce(self) -> None:
        _gateway_from_secret.cache_clear()


# -- the resolver, built from the object declarations --------------------------------------------------


def build_app(objects: Sequence[crm.CrmObject] = crm.OBJECTS) -> APIGatewayRestResolver:
    """A Powertools resolver serving ``objects``: every route of ``routes.routes_for(objects)``
    registered in one loop, every error answered by ``claimsync.crm.refusals``."""
    resolver = APIGatewayRestResolver()
    served = tuple(objects)
    table = routes.routes_for(served)
    for route in table:
        rule = route.path.replace("{", "<").replace("}", ">")  # /accounts/{account_id} → <account_id>
        resolver.route(rule, route.method)(_view(resolver, route, served))

    def refuse(exc: Exception) -> Response[str]:
        return respond(refusals.refusal(exc, LambdaServices(resolver.lambda_context)))

    def no_route(exc: NotFoundError) -> Response[str]:
        event = resolver.current_event
        return respond(refusals.no_route(exc, event.http_method, event.path, table))

    resolver.exception_handler(Exception)(refuse)
    resolver.not_found(no_route)
    return resolver


def _view(
    resolver: APIGatewayRestResolver, route: routes.Route, served: tuple[crm.CrmObject, ...]
) -> Callable[..., Response[str]]:
    def view(**params: str) -> Response[str]:
        event = resolver.current_event
        request = api.Request(
            route=route,
            served=served,
            params=params,
            body=event.body,
            base64_body=bool(event.is_base64_encoded),
            content_types=header_values(resolver, "Content-Type"),
            idempotency_keys=header_values(resolver, idempotency.HEADER),
            caller=functools.partial(caller, resolver),
        )
        return respond(api.answer(request, LambdaServices(resolver.lambda_context)))

    view.__name__ = f"{route.action}_{route.obj.singular if route.obj else route.action}"
    return view


def header_values(resolver: APIGatewayRestResolver, name: str) -> list[str]:
    """Every value of a request header (case-insensitive name); API Gateway keeps repeats in
    ``multiValueHeaders`` and only the last one in ``headers``."""
    event = resolver.current_event
    values = event.multi_value_headers.get(name)
    if values:
        return list(values)
    value = event.headers.get(name)
    return [] if value is None else [value]


def caller(resolver: APIGatewayRestResolver) -> str:
    """The caller as API Gateway authenticated it: IAM principal and API key id ("" locally)."""
    identity = resolver.current_event.request_context.identity
    return idempotency.caller_scope(identity.user_arn, identity.api_key_id)


def respond(answer: Answer) -> Response[str]:
    """``answer`` as a proxy response, its notes logged."""
    for note in answer.notes:
        getattr(logger, note.level)(note.message, extra=dict(note.fields))
    headers = dict(answer.headers) if answer.headers else None
    return Response(
        status_code=answer.status,
        content_type="application/json",
        body=json.dumps(answer.body),
        headers=headers,
    )


# -- the entry point, the route list, the document ----------------------------------------------------


def entry_point(resolver: APIGatewayRestResolver) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler answering through ``resolver``: one log line per request (method, route
    template or ``(unrouted)``, status, duration)."""
    known = frozenset(r.path for r in routes.ROUTES)

    @logger.inject_lambda_context(log_event=False)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        response: dict[str, Any] = resolver.resolve(event, context)
        resource = event.get("resource")
        logger.info(
            "request",
            extra={
                "method": event.get("httpMethod"),
                "resource": resource if resource in known else "(unrouted)",
                "status": response.get("statusCode"),
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return response

    return lambda_handler


def registered_routes(resolver: APIGatewayRestResolver) -> list[tuple[str, str]]:
    """(method, API Gateway path) of every route registered on ``resolver``."""
    registered = resolver._static_routes + resolver._dynamic_routes  # Powertools keeps no public list
    return [(r.method, r.openapi_path) for r in registered]


def openapi_document(
    resolver: APIGatewayRestResolver, objects: Sequence[crm.CrmObject] = crm.OBJECTS
) -> dict[str, Any]:
    """The OpenAPI document of ``resolver`` (built by ``build_app(objects)``)."""
    return openapi.build_openapi(registered_routes(resolver), routes.routes_for(objects))
