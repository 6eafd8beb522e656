"""The emulator's HTTP surface (Flask): REST sObjects, SOQL, Collections, Bulk 2.0, OAuth, admin.

Every API route goes through ``api(kind)``: session check (401 ``INVALID_SESSION_ID``), injected
503s, the daily allocation (403 ``REQUEST_LIMIT_EXCEEDED``), then the call is counted under ``kind``.
Errors leave through one set of handlers that shape them as Salesforce does (a JSON list of
``{"errorCode", "message"[, "fields"]}``); an unexpected exception becomes a 500
``UNKNOWN_EXCEPTION`` with an error id and no traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import BaseConverter

from local.salesforce_emulator import fields as F
from local.salesforce_emulator import ids
from local.salesforce_emulator.auth import OAuthError
from local.salesforce_emulator.bulk import RESULT_FILES, BulkError
from local.salesforce_emulator.faults import FaultConfigError
from local.salesforce_emulator.schema import FieldDef, ObjectDef

if TYPE_CHECKING:
    from local.salesforce_emulator.server import SalesforceEmulator

log = logging.getLogger(__name__)

PAGE_SIZE = 2000
COLLECTION_LIMIT = 200
MAX_CURSORS = 200
LATEST_VERSION = "62.0"
_DESCRIBE_TYPE = {"id": "id", "reference": "reference"}
_SOAP_TYPE = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


class VersionConverter(BaseConverter):
    regex = r"v\d{1,3}\.\d"


class Counters:
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


class Cursors:
    """Server-side query cursors for ``nextRecordsUrl`` (in memory, like short-lived real ones)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._items: OrderedDict[str, tuple[list[dict[str, Any]], int]] = OrderedDict()

    def put(self, records: list[dict[str, Any]], total: int) -> str:
        cursor = ids.to18("01g" + ids.POD + secrets.token_hex(5).upper())[:15]
        with self._mutex:
            self._items[cursor] = (records, total)
            while len(self._items) > MAX_CURSORS:
                self._items.popitem(last=False)
        return cursor

    def get(self, cursor: str) -> tuple[list[dict[str, Any]], int] | None:
        with self._mutex:
            return self._items.get(cursor)

    def clear(self) -> None:
        with self._mutex:
            self._items.clear()


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


def create_app(emu: SalesforceEmulator) -> Flask:
    app = Flask("salesforce_emulator")
    app.url_map.strict_slashes = False
    app.url_map.converters["ver"] = VersionConverter
    schema, store, records, bulk, oauth, faults = (
        emu.schema,
        emu.store,
        emu.records,
        emu.bulk,
        emu.oauth,
        emu.faults,
    )
    counters, cursors = emu.counters, emu.cursors
    data = "/services/data/<ver:version>"

    # -- plumbing ---------------------------------------------------------------------------------

    def api(kind: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
        def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
            @wraps(view)
            def wrapper(**kwargs: Any) -> Response:
                if not oauth.session_valid(request.headers.get("Authorization")):
                    return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
                if faults.take_unavailable(kind):
                    return sf_error(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable, please retry")
                if store.api_used() >= emu.daily_api_limit:
                    return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
                store.add_api_use()
                counters.count(kind)
                answer = view(**kwargs)
                # The call is carried out (committed); only its answer is lost or late.
                if faults.take_drop_answer(kind):
                    drop_connection()
                    return answer  # unsendable: the connection is gone
                delay = faults.take_slow_answer(kind)
                if delay:
                    time.sleep(delay)
                return answer

            return wrapper

        return decorate

    def drop_connection() -> None:
        """Close the client's connection without an answer (werkzeug's server hands the socket in
        ``werkzeug.socket``): the client sees a reset/EOF, as when a proxy or the network drops it."""
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def object_or_404(name: str) -> ObjectDef:
        obj = schema.object(name)
        if obj is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    def record_id_for(obj: ObjectDef, raw: str) -> str:
        if len(raw) not in (15, 18):
            raise ApiError(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {raw}"
            )
        try:
            rid = ids.normalize(raw)
        except ids.MalformedId:
            raise ApiError(400, "MALFORMED_ID", f"Id in URL is malformed: {raw}") from None
        if rid[:3] != obj.key_prefix:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return rid

    def record_url(version: str, obj: ObjectDef, rid: str) -> str:
        return f"/services/data/{version}/sobjects/{obj.name}/{rid}"

    def shaped(version: str, obj: ObjectDef, rec: dict[str, Any]) -> dict[str, Any]:
        return {"attributes": {"type": obj.name, "url": record_url(version, obj, rec["Id"])}, **rec}

    def field_list(obj: ObjectDef, raw: str | None) -> list[str] | None:
        if not raw:
            return None
        names = []
        for part in raw.split(","):
            f = obj.field(part.strip())
            if f is None:
                raise ApiError(
                    400, "INVALID_FIELD", f"No such column '{part.strip()}' on sobject of type {obj.name}"
                )
            names.append(f.name)
        return ["Id", *[n for n in names if n != "Id"]]

    def ext_field(obj: ObjectDef, name: str) -> FieldDef:
        f = obj.field(name)
        if f is None or not (f.external_id or f.name == "Id"):
            raise ApiError(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}"
            )
        return f

    @app.after_request
    def limit_header(response: Response) -> Response:
        if request.path.startswith("/services/data/v"):
            response.headers["Sforce-Limit-Info"] = f"api-usage={store.api_used()}/{emu.daily_api_limit}"
        return response

    @app.errorhandler(ApiError)
    def on_api_error(exc: ApiError) -> Response:
        return sf_error(exc.status, exc.code, exc.message, exc.fields)

    @app.errorhandler(F.FieldError)
    def on_field_error(exc: F.FieldError) -> Response:
        return sf_error(400, exc.code, exc.message, exc.fields)

    @app.errorhandler(BulkError)
    def on_bulk_error(exc: BulkError) -> Response:
        return sf_error(exc.status, exc.code, exc.message)

    @app.errorhandler(OAuthError)
    def on_oauth_error(exc: OAuthError) -> Response:
        return sf_json({"error": exc.error, "error_description": exc.description}, exc.status)

    @app.errorhandler(HTTPException)
    def on_http_error(exc: HTTPException) -> Response:
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

    @app.errorhandler(Exception)
    def on_unexpected(exc: Exception) -> Response:
        error_id = f"{secrets.randbelow(10**9)}-{secrets.randbelow(10**5)} ({secrets.randbelow(10**9)})"
        log.exception("unexpected error in the Salesforce emulator (ErrorId %s)", error_id)
        return sf_error(
            500,
            "UNKNOWN_EXCEPTION",
            f"An unexpected error occurred. Please include this ErrorId if you contact support: {error_id}",
        )

    # -- OAuth ------------------------------------------------------------------------------------

    @app.post("/services/oauth2/token")
    def token() -> Response:
        if faults.take_unavailable("oauth_token"):
            return sf_json(
                {"error": "server_error", "error_description": "Server temporarily unavailable"}, 503
            )
        form = {k: v for k, v in request.form.items()}
        if not form and request.args:
            form = {k: v for k, v in request.args.items()}
        body = oauth.grant(form, emu.instance_url)
        counters.login()
        return sf_json(body)

    # -- versions, resources, limits --------------------------------------------------------------

    @app.get("/services/data")
    def versions() -> Response:
        return sf_json(
            [
                {"label": f"API {n}.0", "url": f"/services/data/v{n}.0", "version": f"{n}.0"}
                for n in range(31, 63)
            ]
        )

    @app.get(f"{data}")
    @api("resources")
    def resources(version: str) -> Response:
        base = f"/services/data/{version}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
        return sf_json({n: f"{base}/{n}" for n in names})

    @app.get(f"{data}/limits")
    @api("limits")
    def limits(version: str) -> Response:
        used = store.api_used()
        mx = emu.daily_api_limit
        return sf_json(
            {
                "DailyApiRequests": {"Max": mx, "Remaining": max(mx - used, 0)},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
                "FileStorageMB": {"Max": 20, "Remaining": 20},
                "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
            }
        )

    # -- describe ---------------------------------------------------------------------------------

    def object_summary(version: str, obj: ObjectDef) -> dict[str, Any]:
        base = f"/services/data/{version}/sobjects/{obj.name}"
        return {
            "name": obj.name,
            "label": obj.label or obj.name,
            "labelPlural": (obj.label or obj.name) + "s",
            "keyPrefix": obj.key_prefix,
            "custom": obj.is_custom,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "queryable": True,
            "retrieveable": True,
            "searchable": True,
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
        }

    def describe_field(f: FieldDef) -> dict[str, Any]:
        return {
            "name": f.name,
            "label": f.label or f.name,
            "type": f.type,
            "soapType": _SOAP_TYPE.get(f.type, "xsd:string"),
            "length": f.length or 0,
            "precision": f.precision or 0,
            "scale": f.scale or 0,
            "digits": f.precision if f.type == "int" else 0,
            "nillable": f.nillable,
            "createable": f.createable,
            "updateable": f.updateable,
            "defaultedOnCreate": f.type == "boolean" or f.name in ("Id", "CreatedDate", "Name"),
            "defaultValue": f.default if f.type == "boolean" else None,
            "externalId": f.external_id,
            "unique": f.unique,
            "idLookup": f.name == "Id" or f.external_id,
            "custom": f.is_custom,
            "nameField": f.name == "Name",
            "filterable": True,
            "sortable": f.type != "textarea",
            "caseSensitive": False,
            "restrictedPicklist": f.restricted,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                for v in f.picklist_values
            ],
            "referenceTo": [f.reference_to] if f.reference_to else [],
            "relationshipName": f.relationship_name,
            "cascadeDelete": False,
            "calculated": False,
        }

    @app.get(f"{data}/sobjects")
    @api("describe_global")
    def describe_global(version: str) -> Response:
        return sf_json(
            {
                "encoding": "UTF-8",
                "maxBatchSize": COLLECTION_LIMIT,
                "sobjects": [object_summary(version, o) for o in schema.objects.values()],
            }
        )

    @app.get(f"{data}/sobjects/<obj_name>")
    @api("sobject_basic")
    def sobject_basic(version: str, obj_name: str) -> Response:
        obj = object_or_404(obj_name)
        return sf_json({"objectDescribe": object_summary(version, obj), "recentItems": []})

    @app.get(f"{data}/sobjects/<obj_name>/describe")
    @api("describe")
    def describe(version: str, obj_name: str) -> Response:
        obj = object_or_404(obj_name)
        body = object_summary(version, obj)
        body["fields"] = [describe_field(f) for f in obj.fields.values()]
        body["childRelationships"] = [
            {"childSObject": o.name, "field": f.name, "relationshipName": o.name.removesuffix("__c") + "s"}
            for o in schema.objects.values()
            for f in o.fields.values()
            if f.reference_to and f.reference_to.lower() == obj.name.lower()
        ]
        return sf_json(body)

    # -- sObject CRUD -----------------------------------------------------------------------------

    @app.post(f"{data}/sobjects/<obj_name>")
    @api("sobject_create")
    def create(version: str, obj_name: str) -> Response:
        obj = object_or_404(obj_name)
        rid = records.create(obj, read_json_object())
        return sf_json({"id": rid, "success": True, "errors": []}, 201)

    @app.get(f"{data}/sobjects/<obj_name>/<raw_id>")
    @api("sobject_get")
    def get_record(version: str, obj_name: str, raw_id: str) -> Response:
        obj = object_or_404(obj_name)
        rid = record_id_for(obj, raw_id)
        rec = store.get(obj, rid, field_list(obj, request.args.get("fields")))
        if rec is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return sf_json(shaped(version, obj, rec))

    @app.patch(f"{data}/sobjects/<obj_name>/<raw_id>")
    @api("sobject_update")
    def update_record(version: str, obj_name: str, raw_id: str) -> Response:
        obj = object_or_404(obj_name)
        rid = record_id_for(obj, raw_id)
        body = read_json_object()
        if not store.existing_ids(obj, [rid]):
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        records.update(obj, rid, body)
        return Response(status=204)

    @app.delete(f"{data}/sobjects/<obj_name>/<raw_id>")
    @api("sobject_delete")
    def delete_record(version: str, obj_name: str, raw_id: str) -> Response:
        obj = object_or_404(obj_name)
        rid = record_id_for(obj, raw_id)
        if not records.delete(obj, rid):
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return Response(status=204)

    @app.get(f"{data}/sobjects/<obj_name>/<field_name>/<path:value>")
    @api("sobject_get_by_external_id")
    def get_by_external_id(version: str, obj_name: str, field_name: str, value: str) -> Response:
        obj = object_or_404(obj_name)
        f = ext_field(obj, field_name)
        if f.name == "Id":
            return get_record.__wrapped__(version=version, obj_name=obj_name, raw_id=value)  # type: ignore[attr-defined, no-any-return]
        matches = store.find_ids(obj, f, [value]).get(value.lower(), [])
        if not matches:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if len(matches) > 1:  # pragma: no cover - external ids are unique in this schema
            raise ApiError(300, "MULTIPLE_CHOICES", "Multiple records match")
        rec = store.get(obj, matches[0], field_list(obj, request.args.get("fields")))
        assert rec is not None
        return sf_json(shaped(version, obj, rec))

    @app.patch(f"{data}/sobjects/<obj_name>/<field_name>/<path:value>")
    @api("sobject_upsert")
    def upsert(version: str, obj_name: str, field_name: str, value: str) -> Response:
        # Since API 46.0 an upsert answers 201 with created=true on insert and 200 with created=false
        # on update; the emulator does that for every version.
        obj = object_or_404(obj_name)
        f = ext_field(obj, field_name)
        body = read_json_object()
        if f.name == "Id":
            rid = record_id_for(obj, value)
            if not store.existing_ids(obj, [rid]):
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            records.update(obj, rid, body)
            return sf_json({"id": rid, "success": True, "errors": [], "created": False}, 200)
        rid, created = records.upsert(obj, f, value, body)
        return sf_json(
            {"id": rid, "success": True, "errors": [], "created": created}, 201 if created else 200
        )

    @app.delete(f"{data}/sobjects/<obj_name>/<field_name>/<path:value>")
    @api("sobject_delete")
    def delete_by_external_id(version: str, obj_name: str, field_name: str, value: str) -> Response:
        obj = object_or_404(obj_name)
        f = ext_field(obj, field_name)
        matches = (
            store.find_ids(obj, f, [value]).get(value.lower(), [])
            if f.name != "Id"
            else [record_id_for(obj, value)]
        )
        if not matches or not records.delete(obj, matches[0]):
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return Response(status=204)

    # -- SOQL -------------------------------------------------------------------------------------

    def run_query(version: str, text: str | None) -> Response:
        from local.salesforce_emulator import soql  # the engine is a separate module with its own parser

        if not text:
            raise ApiError(400, "MALFORMED_QUERY", "unexpected token: <EOF>")
        try:
            compiled = soql.compile_query(text, schema)
            result = compiled.execute(store.rows, version)
        except soql.SoqlError as exc:
            raise ApiError(400, exc.error_code, exc.message) from None
        return page(version, list(result.records), result.total_size, 0, None)

    def page(
        version: str, recs: list[dict[str, Any]], total: int, start: int, cursor: str | None
    ) -> Response:
        chunk = recs[start : start + PAGE_SIZE]
        body: dict[str, Any] = {"totalSize": total, "done": start + PAGE_SIZE >= len(recs), "records": chunk}
        if not body["done"]:
            cursor = cursor or cursors.put(recs, total)
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{cursor}-{start + PAGE_SIZE}"
        return sf_json(body)

    def query_more(version: str, locator: str) -> Response:
        cursor, _, offset = locator.partition("-")
        found = cursors.get(cursor)
        if found is None or not offset.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        recs, total = found
        return page(version, recs, total, int(offset), cursor)

    @app.get(f"{data}/query")
    @api("query")
    def query(version: str) -> Response:
        return run_query(version, request.args.get("q"))

    @app.get(f"{data}/queryAll")
    @api("query")
    def query_all(version: str) -> Response:
        return run_query(version, request.args.get("q"))

    @app.get(f"{data}/query/<locator>")
    @api("query_more")
    def query_next(version: str, locator: str) -> Response:
        return query_more(version, locator)

    @app.get(f"{data}/queryAll/<locator>")
    @api("query_more")
    def query_all_next(version: str, locator: str) -> Response:
        return query_more(version, locator)

    # -- sObject Collections ----------------------------------------------------------------------

    def collection_body() -> tuple[list[Any], bool]:
        body = read_json_object()
        items = body.get("records")
        if not isinstance(items, list):
            raise ApiError(400, "INVALID_FIELD", "records is required and must be a list")
        if len(items) > COLLECTION_LIMIT:
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        return items, bool(body.get("allOrNone", False))

    @app.post(f"{data}/composite/sobjects")
    @api("composite_create")
    def composite_create(version: str) -> Response:
        items, all_or_none = collection_body()
        return sf_json(
            records.collection("create", items, all_or_none=all_or_none, lock_row=lambda _k: False)
        )

    @app.patch(f"{data}/composite/sobjects")
    @api("composite_update")
    def composite_update(version: str) -> Response:
        items, all_or_none = collection_body()
        return sf_json(records.collection("update", items, all_or_none=all_or_none, lock_row=faults.lock_row))

    @app.patch(f"{data}/composite/sobjects/<obj_name>/<field_name>")
    @api("composite_upsert")
    def composite_upsert(version: str, obj_name: str, field_name: str) -> Response:
        obj = object_or_404(obj_name)
        f = ext_field(obj, field_name)
        items, all_or_none = collection_body()
        for item in items:
            attrs = item.get("attributes") if isinstance(item, dict) else None
            if (
                isinstance(attrs, dict)
                and attrs.get("type")
                and str(attrs["type"]).lower() != obj.name.lower()
            ):
                raise ApiError(400, "INVALID_TYPE", f"Record type {attrs['type']} does not match {obj.name}")
        result = records.collection(
            "upsert", items, all_or_none=all_or_none, lock_row=faults.lock_row, obj=obj, ext=f
        )
        return sf_json(result)

    @app.delete(f"{data}/composite/sobjects")
    @api("composite_delete")
    def composite_delete(version: str) -> Response:
        raw = request.args.get("ids", "")
        items = [i for i in raw.split(",") if i]
        if not items:
            raise ApiError(400, "MISSING_ARGUMENT", "ids is required")
        if len(items) > COLLECTION_LIMIT:
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        all_or_none = request.args.get("allOrNone", "false").lower() == "true"
        return sf_json(records.collection("delete", items, all_or_none=all_or_none, lock_row=faults.lock_row))

    # -- Bulk API 2.0 ingest ----------------------------------------------------------------------

    @app.post(f"{data}/jobs/ingest")
    @api("bulk_create_job")
    def bulk_create(version: str) -> Response:
        return sf_json(bulk.create(read_json(), version), 200)

    @app.get(f"{data}/jobs/ingest")
    @api("bulk_list_jobs")
    def bulk_list(version: str) -> Response:
        return sf_json(bulk.list())

    @app.get(f"{data}/jobs/ingest/<job_id>")
    @api("bulk_get_job")
    def bulk_get(version: str, job_id: str) -> Response:
        return sf_json(bulk.public(bulk.get(job_id)))

    @app.patch(f"{data}/jobs/ingest/<job_id>")
    @api("bulk_close")
    def bulk_state(version: str, job_id: str) -> Response:
        return sf_json(bulk.set_state(job_id, read_json()))

    @app.delete(f"{data}/jobs/ingest/<job_id>")
    @api("bulk_delete_job")
    def bulk_delete(version: str, job_id: str) -> Response:
        bulk.delete(job_id)
        return Response(status=204)

    @app.put(f"{data}/jobs/ingest/<job_id>/batches")
    @api("bulk_upload")
    def bulk_upload(version: str, job_id: str) -> Response:
        content_type = request.headers.get("Content-Type", "")
        if not content_type.lower().startswith("text/csv"):
            raise ApiError(400, "INVALIDCONTENTTYPE", f"Unsupported content type: {content_type or 'none'}")
        bulk.upload(job_id, request.stream, request.content_length)
        return Response(status=201)

    @app.get(f"{data}/jobs/ingest/<job_id>/<kind>")
    @api("bulk_results")
    def bulk_results(version: str, job_id: str, kind: str) -> Response:
        kind = kind.lower()
        if kind not in RESULT_FILES:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        path, inline = bulk.result_file(job_id, kind)
        if path is None:
            return Response(inline, status=200, content_type="text/csv")

        def stream() -> Any:
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    yield chunk

        return Response(stream(), status=200, content_type="text/csv")

    # -- admin (not API calls) --------------------------------------------------------------------

    @app.get("/__admin/counters")
    def admin_counters() -> Response:
        return sf_json(counters.snapshot())

    @app.post("/__admin/counters/reset")
    def admin_counters_reset() -> Response:
        counters.reset()
        return sf_json(counters.snapshot())

    @app.get("/__admin/faults")
    def admin_faults() -> Response:
        return sf_json({**faults.describe(), "held_jobs": bulk.held()})

    @app.post("/__admin/faults")
    def admin_set_faults() -> Response:
        try:
            faults.configure(read_json_object())
        except (FaultConfigError, ValueError, TypeError) as exc:
            raise ApiError(400, "INVALID_FAULT", str(exc)) from None
        if not faults.hold_jobs:
            bulk.release_held()
        return sf_json(faults.describe())

    @app.delete("/__admin/faults")
    def admin_clear_faults() -> Response:
        faults.clear()
        bulk.release_held()
        return sf_json(faults.describe())

    @app.post("/__admin/expire-tokens")
    def admin_expire_tokens() -> Response:
        oauth.expire_all()
        return sf_json({"expired": True})

    @app.get("/__admin/limits")
    def admin_limits() -> Response:
        return sf_json({"daily_api_limit": emu.daily_api_limit, "used": store.api_used()})

    @app.post("/__admin/limits")
    def admin_set_limits() -> Response:
        body = read_json_object()
        try:
            if "daily_api_limit" in body:
                emu.daily_api_limit = int(body["daily_api_limit"])
            if "used" in body:
                store.set_api_used(int(body["used"]))
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "INVALID_LIMIT", str(exc)) from None
        return admin_limits()

    @app.post("/__admin/reset")
    def admin_reset() -> Response:
        emu.reset()
        return sf_json({"reset": True})

    @app.get("/__admin/records/<obj_name>")
    def admin_records(obj_name: str) -> Response:
        obj = object_or_404(obj_name)
        return sf_json({"object": obj.name, "records": list(store.rows(obj))})

    @app.get("/__admin/connected-app/certificate")
    def admin_certificate() -> Response:
        return sf_json(oauth.certificate.describe())

    @app.put("/__admin/connected-app/certificate")
    def admin_set_certificate() -> Response:
        try:
            oauth.certificate.replace(request.get_data())
        except ValueError as exc:
            raise ApiError(400, "INVALID_CERTIFICATE", str(exc)) from None
        return sf_json(oauth.certificate.describe())

    @app.delete("/__admin/connected-app/certificate")
    def admin_restore_certificate() -> Response:
        oauth.certificate.restore_default()
        return sf_json(oauth.certificate.describe())

    @app.get("/__admin/health")
    def admin_health() -> Response:
        return sf_json({"status": "ok", "time": time.time()})

    return app
