"""REST sObject CRUD, by record id and by external id (upsert answers 201 created / 200 updated)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response, request

from local.salesforce_emulator import ids
from local.salesforce_emulator.schema import ObjectDef
from local.salesforce_emulator.web import (
    DATA,
    ApiError,
    Route,
    ext_field,
    not_found,
    object_or_404,
    read_json_object,
    sf_json,
)

if TYPE_CHECKING:
    from local.salesforce_emulator.server import SalesforceEmulator

_BY_ID = f"{DATA}/sobjects/<obj_name>/<raw_id>"
_BY_EXTERNAL_ID = f"{DATA}/sobjects/<obj_name>/<field_name>/<path:value>"


class SObjectRoutes:
    def __init__(self, emu: SalesforceEmulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        return [
            Route("POST", f"{DATA}/sobjects/<obj_name>", self.create, "sobject_create"),
            Route("GET", _BY_ID, self.get_record, "sobject_get"),
            Route("PATCH", _BY_ID, self.update_record, "sobject_update"),
            Route("DELETE", _BY_ID, self.delete_record, "sobject_delete"),
            Route("GET", _BY_EXTERNAL_ID, self.get_by_external_id, "sobject_get_by_external_id"),
            Route("PATCH", _BY_EXTERNAL_ID, self.upsert, "sobject_upsert"),
            Route("DELETE", _BY_EXTERNAL_ID, self.delete_by_external_id, "sobject_delete"),
        ]

    def create(self, version: str, obj_name: str) -> Response:
        obj = object_or_404(self.emu.schema, obj_name)
        rid = self.emu.records.create(obj, read_json_object())
        return sf_json({"id": rid, "success": True, "errors": []}, 201)

    def get_record(self, version: str, obj_name: str, raw_id: str) -> Response:
        obj = object_or_404(self.emu.schema, obj_name)
        return self._get(version, obj, record_id_for(obj, raw_id))

    def update_record(self, version: str, obj_name: str, raw_id: str) -> Response:
        obj = object_or_404(self.emu.schema, obj_name)
        rid = record_id_for(obj, raw_id)
        self._update(obj, rid, read_json_object())
        return Response(status=204)

    def delete_record(self, version: str, obj_name: str, raw_id: str) -> Response:
        obj = object_or_404(self.emu.schema, obj_name)
        if not self.emu.records.delete(obj, record_id_for(obj, raw_id)):
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return Response(status=204)

    def get_by_external_id(self, version: str, obj_name: str, field_name: str, value: str) -> Response:
        obj = object_or_404(self.emu.schema, obj_name)
        matches = self._matches(obj, field_name, value)
        if not matches:
            raise not_found()
        if len(matches) > 1:  # pragma: no cover - external ids are unique in this schema
            raise ApiError(300, "MULTIPLE_CHOICES", "Multiple records match")
        return self._get(version, obj, matches[0])

    def upsert(self, version: str, obj_name: str, field_name: str, value: str) -> Response:
        # Since API 46.0 an upsert answers 201 with created=true on insert and 200 with created=false
        # on update; the emulator does that for every version.
        obj = object_or_404(self.emu.schema, obj_name)
        f = ext_field(obj, field_name)
        body = read_json_object()
        if f.name == "Id":
            rid, created = record_id_for(obj, value), False
            self._update(obj, rid, body)
        else:
            rid, created = self.emu.records.upsert(obj, f, value, body)
        return sf_json(
            {"id": rid, "success": True, "errors": [], "created": created}, 201 if created else 200
        )

    def delete_by_external_id(self, version: str, obj_name: str, field_name: str, value: str) -> Response:
        obj = object_or_404(self.emu.schema, obj_name)
        matches = self._matches(obj, field_name, value)
        if not matches or not self.emu.records.delete(obj, matches[0]):
            raise not_found()
        return Response(status=204)

    def _matches(self, obj: ObjectDef, field_name: str, value: str) -> list[str]:
        """Record ids whose external-id field (or ``Id``) holds ``value``."""
        f = ext_field(obj, field_name)
        if f.name == "Id":
            return [record_id_for(obj, value)]
        return self.emu.store.find_ids(obj, f, [value]).get(value.lower(), [])

    def _get(self, version: str, obj: ObjectDef, rid: str) -> Response:
        rec = self.emu.store.get(obj, rid, field_list(obj, request.args.get("fields")))
        if rec is None:
            raise not_found()
        return sf_json(shaped(version, obj, rec))

    def _update(self, obj: ObjectDef, rid: str, body: dict[str, Any]) -> None:
        if not self.emu.store.existing_ids(obj, [rid]):
            raise not_found()
        self.emu.records.update(obj, rid, body)


def record_id_for(obj: ObjectDef, raw: str) -> str:
    """The 18-character id a URL names: 404 for a wrong length or another object's, 400 malformed."""
    if len(raw) not in (15, 18):
        raise ApiError(
            404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {raw}"
        )
    try:
        rid = ids.normalize(raw)
    except ids.MalformedId:
        raise ApiError(400, "MALFORMED_ID", f"Id in URL is malformed: {raw}") from None
    if rid[:3] != obj.key_prefix:
        raise not_found()
    return rid


def field_list(obj: ObjectDef, raw: str | None) -> list[str] | None:
    """The ``?fields=`` of a GET: ``Id`` first, then the named fields (400 for an unknown one)."""
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


def shaped(version: str, obj: ObjectDef, rec: dict[str, Any]) -> dict[str, Any]:
    url = f"/services/data/{version}/sobjects/{obj.name}/{rec['Id']}"
    return {"attributes": {"type": obj.name, "url": url}, **rec}
