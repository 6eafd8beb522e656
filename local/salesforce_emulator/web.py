"""HTTP plumbing every API area shares: the route declaration, the API gate, JSON in and out, and the
one place errors become Salesforce-shaped answers.

Every API route goes through ``ApiGate``: session check (401 ``INVALID_SESSION_ID``), injected
503s, the daily allocation (403 ``REQUEST_LIMIT_EXCEEDED``), then the call is counted under its
kind; after the view, an injected lost or late answer. Errors leave through ``register_error_handlers``,
shaped as Salesforce does (a JSON list of ``{"errorCode", "message"[, "fields"]}``); an unexpected
exception becomes a 500 ``UNKNOWN_EXCEPTION`` with an error id and no traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any, Protocol

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import BaseConverter

from local.faults import FaultError
from local.salesforce_emulator import fields as F
from local.salesforce_emulator.auth import OAuthError
from local.salesforce_emulator.bulk import BulkError
from local.salesforce_emulator.faults import CALL_KINDS
from local.salesforce_emulator.schema import FieldDef, ObjectDef, Schema

if TYPE_CHECKING:
    from local.salesforce_emulator.server import SalesforceEmulator

log = logging.getLogger(__name__)

DATA = "/services/data/<ver:version>"  # the prefix of every versioned REST route
View = Callable[..., Response]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


class VersionConverter(BaseConverter):
    regex = r"v\d{1,3}\.\d"


@dataclass(frozen=True)
class Route:
    """One route of an API area; ``kind`` names the call for the gate (None: not an API call)."""

    method: str
    rule: str
    view: View
    kind: str | None = None


class Area(Protocol):
    """An API area: a class holding the emulator whose methods are the views it declares."""

    def routes(self) -> list[Route]: ...


def blueprint(name: str, routes: Iterable[Route], gate: ApiGate) -> Blueprint:
    """A blueprint serving ``routes``, each API call behind ``gate``."""
    bp = Blueprint(name, __name__)
    for route in routes:
        view = gate.wrap(route.kind, route.view) if route.kind is not None else route.view
        endpoint = f"{route.method.lower()}:{route.rule}".replace(".", "_")  # unique per route
        bp.add_url_rule(route.rule, endpoint, view, methods=[route.method])
    return bp


# -- JSON in and out ------------------------------------------------------------------------------


def sf_json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json;charset=UTF-8")


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    item: dict[str, Any] = {"errorCode": code, "message": message}
    if fields is not None:
        item["fields"] = fields
    return sf_json([item], status)


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"Unrecognized token '{name}'", name, 0)


def read_json() -> Any:
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise ApiError(
            400, "JSON_PARSER_ERROR", "No content to map due to end-of-input at [line:1, column:0]"
        )
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "JSON_PARSER_ERROR", "Invalid UTF-8 in the request body") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "JSON_PARSER_ERROR",
            f"Unexpected character: {exc.msg} at [line:{exc.lineno}, column:{exc.colno}]",
        ) from None


def read_json_object() -> dict[str, Any]:
    body = read_json()
    if not isinstance(body, dict):
        raise ApiError(
            400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from START_ARRAY value ["
        )
    return body


# -- objects and fields named in URLs -------------------------------------------------------------


def object_or_404(schema: Schema, name: str) -> ObjectDef:
    obj = schema.object(name)
    if obj is None:
        raise not_found()
    return obj


def ext_field(obj: ObjectDef, name: str) -> FieldDef:
    """The external-id field (or ``Id``) an upsert or lookup URL names."""
    f = obj.field(name)
    if f is None or not (f.external_id or f.name == "Id"):
        raise ApiError(
            404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}"
        )
    return f


# -- the gate -------------------------------------------------------------------------------------


class Counters:
    """API calls by kind and logins since the last reset (``/__admin/counters``)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._mutex:
            self.api_requests = 0
            self.logins = 0
            self.by_kind: Counter[str] = Counter()

    def count(self, kind: str) -> None:
        with self._mutex:
            self.api_requests += 1
            self.by_kind[kind] += 1

    def login(self) -> None:
        with self._mutex:
            self.logins += 1

    def snapshot(self) -> dict[str, Any]:
        with self._mutex:
            return {"api_requests": self.api_requests, "logins": self.logins, "by_kind": dict(self.by_kind)}


class ApiGate:
    """What every API call passes before and after its view (see the module docstring)."""

    def __init__(self, emu: SalesforceEmulator) -> None:
        self.emu = emu

    def wrap(self, kind: str, view: View) -> View:
        assert kind in CALL_KINDS, f"{kind} is not in faults.CALL_KINDS"

        @wraps(view)
        def gated(**kwargs: Any) -> Response:
            refused = self._refusal(kind)
            if refused is not None:
                return refused
            answer = view(**kwargs)
            self._after(kind)
            return answer

        return gated

    def _refusal(self, kind: str) -> Response | None:
        emu = self.emu
        if not emu.oauth.session_valid(request.headers.get("Authorization")):
            return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if emu.faults.take_unavailable(kind):
            return sf_error(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable, please retry")
        if emu.store.api_used() >= emu.daily_api_limit:
            return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        emu.store.add_api_use()
        emu.counters.count(kind)
        return None

    def _after(self, kind: str) -> None:
        """The call is carried out (committed); only its answer is lost or late."""
        if self.emu.faults.take_drop_answer(kind):
            drop_connection()  # the answer returned next is unsendable: the connection is gone
            return
        delay = self.emu.faults.take_slow_answer(kind)
        if delay:
            time.sleep(delay)

    def limit_header(self, response: Response) -> Response:
        if request.path.startswith("/services/data/v"):
            used, limit = self.emu.store.api_used(), self.emu.daily_api_limit
            response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{limit}"
        return response


def drop_connection() -> None:
    """Close the client's connection without an answer (werkzeug's server hands the socket in
    ``werkzeug.socket``): the client sees a reset/EOF, as when a proxy or the network drops it."""
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


# -- errors ---------------------------------------------------------------------------------------


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, lambda e: sf_error(e.status, e.code, e.message, e.fields))
    app.register_error_handler(F.FieldError, lambda e: sf_error(400, e.code, e.message, e.fields))
    app.register_error_handler(BulkError, lambda e: sf_error(e.status, e.code, e.message))
    app.register_error_handler(FaultError, lambda e: sf_error(400, "INVALID_FAULT", str(e)))
    app.register_error_handler(
        OAuthError, lambda e: sf_json({"error": e.error, "error_description": e.description}, e.status)
    )
    app.register_error_handler(HTTPException, _on_http_error)
    app.register_error_handler(Exception, _on_unexpected)


def _on_http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 404:
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    if isinstance(exc, MethodNotAllowed):
        allowed = ",".join(m for m in (exc.valid_methods or []) if m not in ("HEAD", "OPTIONS"))
        return sf_error(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}",
        )
    if status == 413:
        return sf_error(413, "EXCEEDED_MAX_SIZE_REQUEST", "Maximum size of request reached.")
    return sf_error(status, "INVALID_REQUEST" if status < 500 else "UNKNOWN_EXCEPTION", exc.name)


def _on_unexpected(exc: Exception) -> Response:
    error_id = f"{secrets.randbelow(10**9)}-{secrets.randbelow(10**5)} ({secrets.randbelow(10**9)})"
    log.exception("unexpected error in the Salesforce emulator (ErrorId %s)", error_id)
    return sf_error(
        500,
        "UNKNOWN_EXCEPTION",
        f"An unexpected error occurred. Please include this ErrorId if you contact support: {error_id}",
    )
