"""The CRM API as plain values: one request to one route in, one ``Answer`` out.

What a route does depends only on its kind (``ACTIONS``: create, get, update, delete, query, batch,
health): read the input from the ``Request``, call one ``claimsync.crm.service`` function, shape the
envelope. The edge (``handlers._crm_edge``) builds the ``Request`` from an API Gateway event and
supplies ``Services`` (settings read once, the cached Salesforce gateway, the cursor key, the
idempotency store); nothing here knows about Lambda or Powertools. Errors are not caught here: they
propagate to the edge, which answers them through ``claimsync.crm.refusals``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from claimsync.crm import idempotency, service
from claimsync.crm.body import parse_json_body
from claimsync.crm.config import CrmConfigError, CrmSettings
from claimsync.crm.envelope import Answer, Note, ok, success
from claimsync.crm.errors import InvalidJson
from claimsync.crm.objects import CrmObject
from claimsync.crm.routes import Action, Route
from claimsync.crm.soql import CursorCodec
from claimsync.salesforce.gateway import SalesforceGateway


class Services(Protocol):
    """What a request needs from outside; the edge provides it for each invocation."""

    def settings(self) -> CrmSettings: ...

    def salesforce(self) -> SalesforceGateway: ...

    def cursors(self) -> CursorCodec: ...

    def remember(
        self, request: idempotency.KeyedRequest, answer: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """``(envelope, replayed)``: ``answer()`` the first time for this caller and key, the stored
        envelope after that (``claimsync.crm.idempotency.IdempotencyStore.run``)."""
        ...

    def forget_salesforce(self) -> None:
        """Drop the cached gateway: the next request reads the (maybe rotated) secret again."""
        ...


@dataclass(frozen=True)
class Request:
    """One request to one route of an API serving ``served``, as the edge read it."""

    route: Route
    served: tuple[CrmObject, ...]  # every object the API serves (the SOQL allowlist by default)
    params: Mapping[str, str]  # path parameters
    body: str | None  # as API Gateway passes it
    base64_body: bool  # API Gateway's isBase64Encoded
    content_types: Sequence[str]  # every Content-Type header value
    idempotency_keys: Sequence[str]  # every Idempotency-Key header value
    # Who asks, as API Gateway authenticated it (``idempotency.caller_scope``); read by keyed creates.
    caller: Callable[[], str]

    @property
    def obj(self) -> CrmObject:
        if self.route.obj is None:  # /query and /health: their actions never ask
            raise TypeError(f"{self.route.key} serves no object")
        return self.route.obj

    @property
    def record_id(self) -> str:
        return self.params[self.obj.id_param]

    def json_body(self, max_bytes: int) -> Any:
        """The body's JSON value (``claimsync.crm.body``: size, media type, I-JSON, depth)."""
        raw: bytes | None = None
        if self.body is not None:
            if self.base64_body:
                try:
                    raw = base64.b64decode(self.body, validate=True)
                except (binascii.Error, ValueError):
                    raise InvalidJson("the request body is not valid base64") from None
            else:
                raw = self.body.encode("utf-8", "surrogatepass")
        return parse_json_body(raw, max_bytes=max_bytes, content_types=self.content_types)


def answer(request: Request, services: Services) -> Answer:
    """What ``request`` gets (a domain or Salesforce exception propagates to the edge)."""
    return ACTIONS[request.route.action](request, services)


# -- one function per kind of route ---------------------------------------------------------------


def _create(request: Request, services: Services) -> Answer:
    def make(body: Any, request_key: str | None) -> dict[str, Any]:
        spec = request.obj
        record_id, values = service.create_record(services.salesforce(), spec, body, request_key=request_key)
        return spec.created_answer(record_id, values)

    return _created(request, services, make)


def _get(request: Request, services: Services) -> Answer:
    return ok(service.get_record(services.salesforce(), request.obj, request.record_id))


def _update(request: Request, services: Services) -> Answer:
    body = request.json_body(services.settings().max_body_bytes)
    record_id = service.update_record(services.salesforce(), request.obj, request.record_id, body)
    return ok({"record_id": record_id, "status": "updated"})


def _delete(request: Request, services: Services) -> Answer:
    record_id = service.delete_record(services.salesforce(), request.obj, request.record_id)
    return ok({"record_id": record_id, "status": "deleted"})


def _query(request: Request, services: Services) -> Answer:
    settings = services.settings()
    body = request.json_body(settings.max_body_bytes)
    policy = settings.query_policy(o.sobject for o in request.served)
    page = service.run_query(services.salesforce(), policy, body, services.cursors())
    data: dict[str, Any] = {"total_size": page.total_size, "done": page.done, "records": page.records}
    if page.next:
        data["next"] = page.next
    return ok(data)


def _batch(request: Request, services: Services) -> Answer:
    def make(body: Any, request_key: str | None) -> dict[str, Any]:
        result = service.batch_create(
            services.salesforce(),
            request.obj,
            body,
            max_records=services.settings().batch_max,
            request_key=request_key,
        )
        return {
            "total": result.total,
            "successful": result.successful,
            "failed": result.failed,
            "results": [
                {"success": r.success, "record_id": r.record_id, "error": r.error} for r in result.results
            ],
        }

    return _created(request, services, make)


def _health(request: Request, services: Services) -> Answer:
    """Always 200: ``degraded`` when Salesforce cannot be reached or the credentials cannot be read."""
    try:
        settings = services.settings()
    except CrmConfigError:
        settings = CrmSettings()
    notes: tuple[Note, ...] = ()
    try:
        connected = service.salesforce_connected(services.salesforce())
    except Exception as exc:  # a missing or unreadable secret must not fail the health check
        message = "health check could not build the Salesforce gateway"
        notes = (Note("warning", message, {"error": type(exc).__name__}),)
        connected = False
    data = {
        "status": "healthy" if connected else "degraded",
        "salesforce_connected": connected,
        "function": settings.function_name,
        "version": settings.function_version,
    }
    return Answer(200, success(data), notes=notes)


ACTIONS: dict[Action, Callable[[Request, Services], Answer]] = {
    "create": _create,
    "get": _get,
    "update": _update,
    "delete": _delete,
    "query": _query,
    "batch": _batch,
    "health": _health,
}


def _created(
    request: Request, services: Services, make: Callable[[Any, str | None], dict[str, Any]]
) -> Answer:
    """A create's 201 answer: ``make(body, request_key)`` creates and returns the ``data``.

    With an ``Idempotency-Key`` (on an object that declares a request key field) the answer is
    computed at most once per caller and key and replayed after that (``Services.remember``);
    ``request_key`` is then the value Salesforce deduplicates on, else ``None``."""
    body = request.json_body(services.settings().max_body_bytes)
    keyed = request.obj.request_key_field is not None
    key = idempotency.parse_key(request.idempotency_keys) if keyed else None
    if key is None:
        return ok(make(body, None), 201)
    keyed_request = idempotency.KeyedRequest(
        scope=request.caller(), key=key, route=request.route.key, body=body
    )
    envelope, replayed = services.remember(
        keyed_request, lambda: success(make(body, keyed_request.salesforce_key))
    )
    return Answer(201, envelope, {idempotency.REPLAYED_HEADER: "true"} if replayed else None)
