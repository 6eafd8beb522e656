"""The OpenAPI 3.0 document of the CRM API, derived from its routes (``claimsync.crm.routes``) and so
from the object declarations (``claimsync.crm.objects``): operations, request, record and answer
schemas all come from the ``CrmObject`` each route serves, so the document, the routes and the
validation cannot drift.

``handlers.crm_api`` passes the routes its resolver registered; one that is not in the route table (or
a table entry the resolver lacks) is an error, so the document cannot silently miss an endpoint.
``python -m handlers.crm_api --openapi > docs/openapi.json`` regenerates the committed copy and a test
fails when that copy is stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from claimsync.crm.errors import ERROR_CODES
from claimsync.crm.idempotency import HEADER as IDEMPOTENCY_HEADER
from claimsync.crm.idempotency import KEY_PATTERN, REPLAYED_HEADER
from claimsync.crm.objects import DATE_PATTERN, EMAIL_PATTERN, CrmObject, FieldRule
from claimsync.crm.routes import ROUTES, Route

OPENAPI_VERSION = "3.0.3"
API_VERSION = "1.0.0"


def _id_pattern(key_prefix: str) -> str:
    return f"^{key_prefix}[0-9A-Za-z]{{12}}([0-9A-Za-z]{{3}})?$"


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


# -- schemas ---------------------------------------------------------------------------------------


def _field_schema(rule: FieldRule, *, nullable: bool) -> dict[str, Any]:
    s: dict[str, Any]
    if rule.kind == "text":
        s = {"type": "string", "maxLength": rule.max_length}
    elif rule.kind == "email":
        s = {"type": "string", "maxLength": rule.max_length, "pattern": EMAIL_PATTERN}
    elif rule.kind == "date":
        s = {"type": "string", "format": "date", "pattern": DATE_PATTERN}
    elif rule.kind == "choice":
        s = {"type": "string", "enum": list(rule.choices)}
    elif rule.kind == "reference":
        s = {"type": "string", "pattern": _id_pattern(rule.reference_prefix)}
    else:
        s = {"type": "number" if rule.kind == "number" else "integer"}
        if rule.minimum is not None:
            s["minimum"] = rule.minimum
        if rule.maximum is not None:
            s["maximum"] = rule.maximum
    if rule.description:
        s["description"] = rule.description
    if nullable:
        s["nullable"] = True
    return s


def _object_schemas(spec: CrmObject) -> dict[str, Any]:
    name = spec.sobject
    create_props = {}
    for f in spec.fields:
        schema = _field_schema(f, nullable=f.name not in spec.required)
        if f.name in spec.required and f.kind == "text":
            schema["minLength"] = 1
        create_props[f.name] = schema
    update_props = {f.name: _field_schema(f, nullable=f.name not in spec.required) for f in spec.fields}
    record_props: dict[str, Any] = {"Id": {"type": "string", "pattern": _id_pattern(spec.key_prefix)}}
    for f in spec.fields:
        record_props[f.name] = {"type": _loose_type(f), "nullable": True}
    for extra in spec.read_only:
        record_props[extra] = {"type": "string", "nullable": True}
    for stamp in ("CreatedDate", "LastModifiedDate"):
        record_props[stamp] = {"type": "string", "nullable": True}
    return {
        f"{name}Create": {
            "type": "object",
            "properties": create_props,
            "required": list(spec.required),
            "additionalProperties": False,
        },
        f"{name}Update": {
            "type": "object",
            "description": "Only the fields given are changed; null clears an optional field.",
            "properties": update_props,
            "minProperties": 1,
            "additionalProperties": False,
        },
        f"{name}Record": {
            "type": "object",
            "properties": record_props,
            "required": ["Id"],
        },
    }


def _loose_type(rule: FieldRule) -> str:
    """The JSON type of a field's value as Salesforce returns it."""
    return {"number": "number", "integer": "integer"}.get(rule.kind, "string")


def _created_schema(spec: CrmObject) -> dict[str, Any]:
    props: dict[str, Any] = {"record_id": _RECORD_ID}
    for echo in spec.created:
        rule = spec.rule(echo.fields[0]) if len(echo.fields) == 1 else None
        if rule is None:  # several fields joined into one text
            props[echo.key] = _STR
        elif rule.name in spec.required:
            props[echo.key] = {"type": _loose_type(rule)}
        else:
            props[echo.key] = {"type": _loose_type(rule), "nullable": True}
    return _obj(props)


def _obj(props: dict[str, Any], required: Iterable[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else list(required),
        "additionalProperties": False,
        **extra,
    }


_STR = {"type": "string"}
_RECORD_ID = {"type": "string", "minLength": 18, "maxLength": 18}


def _schemas(objects: Sequence[CrmObject]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for spec in objects:
        schemas.update(_object_schemas(spec))
    schemas.update({f"{spec.sobject}Created": _created_schema(spec) for spec in objects})
    schemas.update(
        {
            "RecordUpdated": _obj({"record_id": _RECORD_ID, "status": {"type": "string", "enum": ["updated"]}}),
            "RecordDeleted": _obj({"record_id": _RECORD_ID, "status": {"type": "string", "enum": ["deleted"]}}),
            "QueryRequest": _obj(
                {
                    "soql": {"type": "string", "description": "SELECT ... FROM <allowed object> ..."},
                    "next": {
                        "type": "string",
                        "description": "the cursor a previous page returned (signed; expires)",
                    },
                },
                required=[],
                minProperties=1,
            ),
            "QueryResult": _obj(
                {
                    "total_size": {"type": "integer", "minimum": 0},
                    "done": {"type": "boolean"},
                    "records": {"type": "array", "items": {"type": "object"}},
                    "next": {"type": "string", "description": "present when more pages follow"},
                },
                required=["total_size", "done", "records"],
            ),
        }
    )  # fmt: skip
    batched = [spec for spec in objects if spec.batch]
    for spec in batched:
        schemas[f"{spec.sobject}Batch"] = {
            "type": "array", "items": {"$ref": f"#/components/schemas/{spec.sobject}Create"}, "minItems": 1
        }  # fmt: skip
    if batched:
        schemas.update(_batch_result_schemas())
    schemas.update(
        {
            "Health": _obj(
                {
                    "status": {"type": "string", "enum": ["healthy", "degraded"]},
                    "salesforce_connected": {"type": "boolean"},
                    "function": _STR,
                    "version": _STR,
                }
            ),
            "Error": _obj(
                {
                    "success": {"type": "boolean", "enum": [False]},
                    "error": {"type": "string", "description": "human-readable message"},
                    "error_code": {"type": "string", "enum": list(ERROR_CODES)},
                    "timestamp": {"type": "string", "format": "date-time"},
                }
            ),
        }
    )
    return schemas


def _batch_result_schemas() -> dict[str, Any]:
    return {
        "BatchItemResult": _obj(
            {
                "success": {"type": "boolean"},
                "record_id": {**_RECORD_ID, "nullable": True},
                "error": {"type": "string", "nullable": True},
            }
        ),
        "BatchResult": _obj(
            {
                "total": {"type": "integer", "minimum": 0},
                "successful": {"type": "integer", "minimum": 0},
                "failed": {"type": "integer", "minimum": 0},
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/BatchItemResult"}},
            }
        ),
    }


def _success(data: str) -> dict[str, Any]:
    return _obj(
        {
            "success": {"type": "boolean", "enum": [True]},
            "data": {"$ref": f"#/components/schemas/{data}"},
            "timestamp": {"type": "string", "format": "date-time"},
        }
    )


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
                "schema": {"type": "string", "pattern": _id_pattern(prefix)},
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
        "content": {"application/json": {"schema": _success(op.data)}},
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
            "schemas": _schemas(objects),
            "responses": _error_responses(),
        },
    }


def render(document: dict[str, Any]) -> str:
    """The text committed as docs/openapi.json."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
