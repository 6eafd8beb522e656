"""The OpenAPI 3.0 document of the CRM API, derived from its routes (``claimsync.crm.routes``) and so
from the object declarations (``claimsync.crm.objects``): operations, request, record and answer
schemas all come from the ``CrmObject`` each route serves (the schemas through
``claimsync.crm.schemas``), so the document, the routes and the validation cannot drift.

The edge (``handlers._crm_edge.openapi_document``) passes the routes its resolver registered; one
that is not in the route table (or a table entry the resolver lacks) is an error, so the document
cannot silently miss an endpoint.
``python -m handlers.crm_api --openapi > docs/openapi.json`` regenerates the committed copy and a test
fails when that copy is stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from claimsync.crm import schemas
from claimsync.crm.idempotency import HEADER as IDEMPOTENCY_HEADER
from claimsync.crm.idempotency import KEY_PATTERN, REPLAYED_HEADER
from claimsync.crm.objects import CrmObject
from claimsync.crm.routes import ROUTES, Route

OPENAPI_VERSION = "3.0.3"
API_VERSION = "1.0.0"


@dataclass(frozen=True)
class Operation:
    operation_id: str
    summary: str
    tag: str
    status: int  # success status
    data: str  # component schema of the envelope's ``data``
    request: str | None = None  # component schema of the JSON body
    id_param: tuple[str, str] | None = None  # (path parameter, key prefix)
    description: str = ""
    idempotent: bool = False  # accepts an Idempotency-Key header (creates)


def _served(routes: Iterable[Route]) -> list[CrmObject]:
    """The objects ``routes`` serve, in route order."""
    return list(dict.fromkeys(r.obj for r in routes if r.obj is not None))


def _label(obj: CrmObject) -> str:
    return obj.collection.capitalize()  # "Accounts"


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def operation(route: Route, routes: Sequence[Route] = ROUTES) -> Operation:
    """What the document says about ``route`` (of the API whose routes are ``routes``)."""
    if route.action == "query":
        allowed = ", ".join(o.sobject for o in _served(routes))
        return Operation(
            "query",
            "Run a read-only SOQL query, one page at a time",
            "query",
            200,
            "QueryResult",
            request="QueryRequest",
            description=(
                f"One SELECT on an allowed object (default {allowed}), with a LIMIT of at"
                " most the configured maximum (added when absent). Results come in pages of up to 2,000"
                " records; pass `next` back (alone) for the following page. A `next` cursor is signed by"
                " the API and valid for a limited time (default 15 minutes); any other, changed or expired"
                " cursor is a 400 QUERY_ERROR."
            ),
        )
    if route.action == "health":
        return Operation(
            "health", "Liveness and Salesforce connectivity; always 200", "health", 200, "Health"
        )
    obj = route.obj
    if obj is None:  # every other action serves an object (claimsync.crm.routes)
        raise TypeError(f"{route.key} serves no object")
    name, tag, keyed = obj.sobject, obj.collection, obj.request_key_field is not None
    idp = (obj.id_param, obj.key_prefix)
    if route.action == "create":
        article = "an" if name[0] in "AEIOU" else "a"
        return Operation(f"create{name}", f"Create {article} {name}", tag, 201, f"{name}Created",
                         request=f"{name}Create", idempotent=keyed)  # fmt: skip
    if route.action == "get":
        return Operation(f"get{name}", f"Read one {obj.singular}", tag, 200, f"{name}Record", id_param=idp)
    if route.action == "update":
        return Operation(f"update{name}", f"Update the given fields of one {obj.singular}", tag, 200,
                         "RecordUpdated", request=f"{name}Update", id_param=idp)  # fmt: skip
    if route.action == "delete":
        return Operation(
            f"delete{name}", f"Delete one {obj.singular}", tag, 200, "RecordDeleted", id_param=idp
        )
    return Operation(
        f"batchCreate{_label(obj)}",
        f"Create many {_label(obj)}; each record succeeds or fails on its own",
        tag,
        201,
        "BatchResult",
        request=f"{name}Batch",
        description=(
            f"Each record is validated like POST /{obj.collection}; invalid ones are reported and not"
            " sent. Valid ones are created through sObject Collections, 200 per call. Results are in input"
            " order. A batch larger than the configured maximum (default 1000) is refused with 413."
        ),
        idempotent=keyed,
    )


_ERROR_STATUSES = {
    400: "Bad input: MISSING_PARAMETERS, INVALID_JSON (also a string with an unpaired UTF-16 surrogate),"
    " VALIDATION_ERROR (also a malformed Idempotency-Key), INVALID_ID or QUERY_ERROR",
    404: "NOT_FOUND: no such record",
    409: "IDEMPOTENCY_IN_PROGRESS: a request with this Idempotency-Key is still running; retry after"
    " Retry-After seconds",
    413: "PAYLOAD_TOO_LARGE: the body or the batch is larger than allowed",
    415: "UNSUPPORTED_MEDIA_TYPE: a body not sent as Content-Type: application/json (UTF-8)",
    422: "IDEMPOTENCY_KEY_REUSED: this Idempotency-Key was used for a request with another body or route",
    429: "RATE_LIMITED: Salesforce's API allocation is exhausted; retry after Retry-After seconds",
    500: "INTERNAL_ERROR: an unexpected error in this API (no details are returned)",
    502: "UPSTREAM_ERROR or AUTH_ERROR: Salesforce failed, timed out, or refused this API's credentials",
}


def _error_statuses(op: Operation) -> list[int]:
    if op.operation_id == "health":
        return []
    statuses = [400] if op.request or op.id_param else []
    if op.id_param:
        statuses.append(404)
    if op.request:
        statuses += [413, 415]
    if op.idempotent:
        statuses += [409, 422]
    return sorted([*statuses, 429, 500, 502])


def _operation(route: Route, routes: Sequence[Route]) -> dict[str, Any]:
    op = operation(route, routes)
    doc: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    if op.description:
        doc["description"] = op.description
    if op.id_param:
        param, prefix = op.id_param
        doc["parameters"] = [
            {
                "name": param,
                "in": "path",
                "required": True,
                "description": f"15- or 18-character record id (prefix {prefix}; the 18-character"
                " checksum is verified)",
                "schema": {"type": "string", "pattern": schemas.id_pattern(prefix)},
            }
        ]
    if op.idempotent:
        doc["parameters"] = [
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": False,
                "description": "a key of the caller's choice (e.g. a UUID) that makes the create safe to"
                " retry: the first answer is replayed for the same key and body, and nothing is created"
                " again, even if Salesforce's answer to the first attempt was lost",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN},
            }
        ]
    if op.request:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{op.request}"}}},
        }
    success: dict[str, Any] = {
        "description": "success",
        "content": {"application/json": {"schema": schemas.success_envelope(op.data)}},
    }
    links = _links(route, routes)
    if links:
        success["links"] = links
    if op.idempotent:
        success["headers"] = {
            REPLAYED_HEADER: {
                "description": "present on an answer replayed for a repeated Idempotency-Key",
                "required": False,
                "schema": {"type": "string", "enum": ["true"]},
            }
        }
    responses: dict[str, Any] = {str(op.status): success}
    for status in _error_statuses(op):
        response: dict[str, Any] = {"$ref": f"#/components/responses/E{status}"}
        responses[str(status)] = response
    doc["responses"] = responses
    return doc


def _links(route: Route, routes: Sequence[Route]) -> dict[str, Any]:
    """From a create to the operations on the created record (lets generated tests chain calls)."""
    if route.method != "POST":
        return {}
    links = {}
    for other in routes:
        op = operation(other, routes)
        if op.id_param and other.path.startswith(route.path + "/"):
            links[op.operation_id] = {
                "operationId": op.operation_id,
                "parameters": {op.id_param[0]: "$response.body#/data/record_id"},
            }
    return links


def _error_responses() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, description in _ERROR_STATUSES.items():
        response: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if status in (409, 429):
            response["headers"] = {
                "Retry-After": {
                    "description": "seconds to wait",
                    "required": True,
                    "schema": {"type": "integer"},
                }
            }
        out[f"E{status}"] = response
    return out


def build_openapi(registered: Iterable[tuple[str, str]], routes: Sequence[Route] = ROUTES) -> dict[str, Any]:
    """The OpenAPI document of the API whose route table is ``routes``, for the ``registered``
    (method, API Gateway path) pairs of its resolver, which must be exactly the table's."""
    wanted = {(m.upper(), p) for m, p in registered}
    table = {(r.method, r.path) for r in routes}
    if wanted != table:
        raise ValueError(f"routes without an operation: {sorted(wanted - table)}; "
                         f"operations without a route: {sorted(table - wanted)}")  # fmt: skip
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:  # document order: the table's order
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, routes)
    objects = _served(routes)
    batched = [_label(o) for o in objects if o.batch]
    summary = (
        f"Create, read, update and delete Salesforce {_and([_label(o) for o in objects])}, run read-only SOQL"
        + (f", batch-create {_and(batched)}" if batched else "")
    )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "claimsync CRM API",
            "version": API_VERSION,
            "description": (
                f"{summary}. Every response body is an envelope:"
                ' {"success": true, "data", "timestamp"} or {"success": false, "error", "error_code",'
                ' "timestamp"}. An unknown path answers 404 NOT_FOUND, a known path with another method'
                " 405 METHOD_NOT_ALLOWED with an Allow header. See docs/crm-api.md."
            ),
        },
        "tags": [{"name": t} for t in (*(o.collection for o in objects), "query", "health")],
        "security": [{"sigv4": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "AWS Signature Version 4 (API Gateway IAM authorization)",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            },
            "schemas": schemas.component_schemas(objects),
            "responses": _error_responses(),
        },
    }


def render(document: dict[str, Any]) -> str:
    """The text committed as docs/openapi.json."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
