"""Record writes for REST and sObject Collections: validation the way Salesforce does it, then storage."""

from __future__ import annotations

from typing import Any

from local.salesforce_emulator import fields as F
from local.salesforce_emulator import ids
from local.salesforce_emulator.schema import FieldDef, ObjectDef, Schema
from local.salesforce_emulator.store import Store

ROLLED_BACK = F.FieldError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)


def lock_row_error(record_id: str) -> F.FieldError:
    return F.FieldError(
        "UNABLE_TO_LOCK_ROW",
        f"unable to obtain exclusive access to this record or 1 records: {record_id}",
    )


class Records:
    def __init__(self, store: Store, schema: Schema) -> None:
        self.store = store
        self.schema = schema

    def ref_prefix(self, f: FieldDef) -> str | None:
        target = self.schema.object(f.reference_to) if f.reference_to else None
        return target.key_prefix if target else None

    def validate(
        self, obj: ObjectDef, body: dict[str, Any], *, creating: bool, record_id: str | None = None
    ) -> dict[str, Any]:
        """Body fields as stored values, or ``FieldError`` (first problem found, like the real API)."""
        values: dict[str, Any] = {}
        for key, raw in body.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                raise F.FieldError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}")
            if f.name == "Id" and not creating and isinstance(raw, str):
                try:
                    if ids.normalize(raw) == record_id:
                        continue
                except ids.MalformedId:
                    pass
            if not (f.createable if creating else f.updateable):
                raise F.FieldError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {f.name}. Please check the security settings of this "
                    "field and verify that it is read/write for your profile or permission set.",
                    [f.name],
                )
            values[f.name] = F.from_json(f, raw, self.ref_prefix(f))
        missing = [
            f.name
            for f in obj.fields.values()
            if f.required and (values.get(f.name) is None if (creating or f.name in values) else False)
        ]
        if missing:
            raise F.FieldError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )
        (error,) = self.check_references(obj, [values])
        if error:
            raise error
        return values

    def check_references(self, obj: ObjectDef, rows: list[dict[str, Any]]) -> list[F.FieldError | None]:
        """Lookups must point at existing records: the error of each row (None when fine)."""
        results: list[F.FieldError | None] = [None] * len(rows)
        for f in obj.fields.values():
            if f.type != "reference" or not f.reference_to:
                continue
            wanted = {r[f.name] for r in rows if r.get(f.name)}
            if not wanted:
                continue
            target = self.schema.object(f.reference_to)
            assert target is not None  # checked at schema load
            present = self.store.existing_ids(target, wanted)
            for i, r in enumerate(rows):
                if r.get(f.name) and r[f.name] not in present and results[i] is None:
                    results[i] = F.FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        return results

    # -- single-record operations (raise FieldError) -----------------------------------------------

    def create(self, obj: ObjectDef, body: dict[str, Any]) -> str:
        values = self.validate(obj, body, creating=True)
        with self.store.transaction():
            (rid,) = self.store.allocate_ids(obj, 1)
            row = self.store.prepare_insert(obj, values, rid, F.now_sf())
            (error,) = self.store.insert_many(obj, [row])
            if error:
                raise error
        return rid

    def update(self, obj: ObjectDef, record_id: str, body: dict[str, Any]) -> None:
        values = self.validate(obj, body, creating=False, record_id=record_id)
        with self.store.transaction():
            if not self.store.existing_ids(obj, [record_id]):
                raise F.FieldError("ENTITY_IS_DELETED", "entity is deleted")
            if values:
                (error,) = self.store.update_many(obj, [(record_id, values)], F.now_sf())
                if error:
                    raise error

    def upsert(self, obj: ObjectDef, ext: FieldDef, key: str, body: dict[str, Any]) -> tuple[str, bool]:
        """Create or update the record whose external id ``ext`` is ``key``; ``(id, created)``."""
        body = {k: v for k, v in body.items() if k.lower() != ext.name.lower()}
        with self.store.transaction():
            matches = self.store.find_ids(obj, ext, [key]).get(key.lower(), [])
            if len(matches) > 1:
                raise F.FieldError(
                    "MULTIPLE_RECORDS_FOUND", f"Multiple records found for {ext.name} = {key}"
                )  # pragma: no cover - external ids are unique here
            if matches:
                values = self.validate(obj, body, creating=False, record_id=matches[0])
                if values:
                    (error,) = self.store.update_many(obj, [(matches[0], values)], F.now_sf())
                    if error:
                        raise error
                return matches[0], False
            body[ext.name] = key
            values = self.validate(obj, body, creating=True)
            (rid,) = self.store.allocate_ids(obj, 1)
            (error,) = self.store.insert_many(obj, [self.store.prepare_insert(obj, values, rid, F.now_sf())])
            if error:
                raise error
            return rid, True

    def delete(self, obj: ObjectDef, record_id: str) -> bool:
        with self.store.transaction():
            if not self.store.existing_ids(obj, [record_id]):
                return False
            self.store.delete_many(obj, [record_id])
        return True

    # -- sObject Collections (per-record results) ---------------------------------------------------

    def collection(
        self,
        operation: str,
        items: list[Any],
        *,
        all_or_none: bool,
        lock_row: Any,
        obj: ObjectDef | None = None,
        ext: FieldDef | None = None,
    ) -> list[dict[str, Any]]:
        """Run ``create``/``update``/``upsert``/``delete`` over ``items`` with Collections semantics.

        ``items`` are record dicts (ids for delete). Each record gets ``{"id", "success", "errors"}``
        (plus ``created`` for upsert) in request order. With ``all_or_none`` one failure rolls every
        record back and the others report ``ALL_OR_NONE_OPERATION_ROLLED_BACK``. ``lock_row(key)`` is
        the fault hook deciding whether a record fails ``UNABLE_TO_LOCK_ROW``.
        """
        results: list[dict[str, Any]] = []
        failed = False

        class _RollBack(Exception):
            pass

        try:
            with self.store.transaction():
                for item in items:
                    result: dict[str, Any] = {"id": None, "success": False, "errors": []}
                    if operation == "upsert":
                        result["created"] = False
                    try:
                        with self.store.transaction():
                            self._collection_item(operation, item, result, lock_row, obj, ext)
                        result["success"] = True
                    except F.FieldError as err:
                        result["errors"] = [err.as_collection()]
                        failed = True
                    results.append(result)
                if failed and all_or_none:
                    raise _RollBack
        except _RollBack:
            for r in results:
                if r["success"]:
                    r.update(id=None, success=False, errors=[ROLLED_BACK.as_collection()])
                    if "created" in r:
                        r["created"] = False
        return results

    def _collection_item(
        self,
        operation: str,
        item: Any,
        result: dict[str, Any],
        lock_row: Any,
        obj: ObjectDef | None,
        ext: FieldDef | None,
    ) -> None:
        if operation == "delete":
            rid = self._collection_id(item)
            result["id"] = rid
            target = self.schema.by_prefix(rid[:3])
            if target is None or not self.store.existing_ids(target, [rid]):
                raise F.FieldError("ENTITY_IS_DELETED", "entity is deleted")
            if lock_row(rid):
                raise lock_row_error(rid)
            self.store.delete_many(target, [rid])
            return
        if not isinstance(item, dict):
            raise F.FieldError("JSON_PARSER_ERROR", "Each record must be a JSON object")
        record_obj = obj or self._collection_type(item)
        body = {k: v for k, v in item.items() if k != "attributes"}
        if operation == "create":
            if "Id" in body or "id" in body:
                raise F.FieldError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            result["id"] = self.create(record_obj, body)
        elif operation == "update":
            raw_id = body.pop("Id", None) or body.pop("id", None)
            if not raw_id:
                raise F.FieldError("MISSING_ARGUMENT", "Id not specified in an update call", [])
            rid = self._collection_id(raw_id)
            result["id"] = rid
            if rid[:3] != record_obj.key_prefix:
                raise F.FieldError("MALFORMED_ID", f"Id value of incorrect type: {raw_id}", ["Id"])
            if lock_row(rid):
                raise lock_row_error(rid)
            self.update(record_obj, rid, body)
        else:
            assert ext is not None
            key = body.get(ext.name)
            if key is None:
                key = next((v for k, v in body.items() if k.lower() == ext.name.lower()), None)
            if key in (None, ""):
                raise F.FieldError("MISSING_ARGUMENT", f"{ext.name} not specified", [ext.name])
            key = str(key)
            if lock_row(key):
                existing = self.store.find_ids(record_obj, ext, [key]).get(key.lower(), [""])
                raise lock_row_error(existing[0])
            rid, created = self.upsert(record_obj, ext, key, body)
            result["id"], result["created"] = rid, created

    def _collection_type(self, item: dict[str, Any]) -> ObjectDef:
        attrs = item.get("attributes")
        type_name = attrs.get("type") if isinstance(attrs, dict) else None
        if not isinstance(type_name, str):
            raise F.FieldError("INVALID_TYPE", "Must send a concrete entity type.")
        obj = self.schema.object(type_name)
        if obj is None:
            raise F.FieldError("INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
        return obj

    @staticmethod
    def _collection_id(raw: Any) -> str:
        try:
            return ids.normalize(str(raw))
        except ids.MalformedId:
            raise F.FieldError("MALFORMED_ID", f"malformed id {raw}", []) from None
