"""sObject Collections: up to 200 records a call, all-or-none optional, errors per record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response, request

from local.salesforce_emulator.web import (
    DATA,
    ApiError,
    Route,
    ext_field,
    object_or_404,
    read_json_object,
    sf_json,
)

if TYPE_CHECKING:
    from local.salesforce_emulator.server import SalesforceEmulator

COLLECTION_LIMIT = 200
_COLLECTIONS = f"{DATA}/composite/sobjects"


class CompositeRoutes:
    def __init__(self, emu: SalesforceEmulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        return [
            Route("POST", _COLLECTIONS, self.create, "composite_create"),
            Route("PATCH", _COLLECTIONS, self.update, "composite_update"),
            Route("PATCH", f"{_COLLECTIONS}/<obj_name>/<field_name>", self.upsert, "composite_upsert"),
            Route("DELETE", _COLLECTIONS, self.delete, "composite_delete"),
        ]

    def create(self, version: str) -> Response:
        items, all_or_none = _collection_body()
        return sf_json(
            self.emu.records.collection("create", items, all_or_none=all_or_none, lock_row=lambda _k: False)
        )

    def update(self, version: str) -> Response:
        items, all_or_none = _collection_body()
        return sf_json(
            self.emu.records.collection(
                "update", items, all_or_none=all_or_none, lock_row=self.emu.faults.lock_row
            )
        )

    def upsert(self, version: str, obj_name: str, field_name: str) -> Response:
        obj = object_or_404(self.emu.schema, obj_name)
        f = ext_field(obj, field_name)
        items, all_or_none = _collection_body()
        for item in items:
            attrs = item.get("attributes") if isinstance(item, dict) else None
            if (
                isinstance(attrs, dict)
                and attrs.get("type")
                and str(attrs["type"]).lower() != obj.name.lower()
            ):
                raise ApiError(400, "INVALID_TYPE", f"Record type {attrs['type']} does not match {obj.name}")
        result = self.emu.records.collection(
            "upsert", items, all_or_none=all_or_none, lock_row=self.emu.faults.lock_row, obj=obj, ext=f
        )
        return sf_json(result)

    def delete(self, version: str) -> Response:
        items = [i for i in request.args.get("ids", "").split(",") if i]
        if not items:
            raise ApiError(400, "MISSING_ARGUMENT", "ids is required")
        _check_size(items)
        all_or_none = request.args.get("allOrNone", "false").lower() == "true"
        return sf_json(
            self.emu.records.collection(
                "delete", items, all_or_none=all_or_none, lock_row=self.emu.faults.lock_row
            )
        )


def _collection_body() -> tuple[list[Any], bool]:
    body = read_json_object()
    items = body.get("records")
    if not isinstance(items, list):
        raise ApiError(400, "INVALID_FIELD", "records is required and must be a list")
    _check_size(items)
    return items, bool(body.get("allOrNone", False))


def _check_size(items: list[Any]) -> None:
    if len(items) > COLLECTION_LIMIT:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
