"""The JSON schemas of the CRM API's bodies (the OpenAPI document's ``components.schemas``), derived
from the object declarations: each ``CrmObject`` gives its create, update and record schemas and its
create answer; each ``FieldRule`` gives one property, with the same patterns, bounds and choices the
checks use (``claimsync.crm.fields``). The fixed shapes (query, batch result, health, error) are
here too. ``claimsync.crm.openapi`` puts them into the document.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from claimsync.crm.errors import ERROR_CODES
from claimsync.crm.fields import DATE_PATTERN, EMAIL_PATTERN, FieldRule
from claimsync.crm.objects import CrmObject


def id_pattern(key_prefix: str) -> str:
    return f"^{key_prefix}[0-9A-Za-z]{{12}}([0-9A-Za-z]{{3}})?$"


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
        s = {"type": "string", "pattern": id_pattern(rule.reference_prefix)}
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
    record_props: dict[str, Any] = {"Id": {"type": "string", "pattern": id_pattern(spec.key_prefix)}}
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


def component_schemas(objects: Sequence[CrmObject]) -> dict[str, Any]:
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


def success_envelope(data: str) -> dict[str, Any]:
    return _obj(
        {
            "success": {"type": "boolean", "enum": [True]},
            "data": {"$ref": f"#/components/schemas/{data}"},
            "timestamp": {"type": "string", "format": "date-time"},
        }
    )
