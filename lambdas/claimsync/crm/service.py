"""What the CRM API does, over an injected ``SalesforceGateway``: plain values in, plain values out.

Every function validates its input first (``claimsync.crm.errors``) and only then calls
Salesforce; Salesforce's failures propagate as ``claimsync.salesforce.errors.SalesforceError`` subclasses
for the edge to map. Nothing here knows about Lambda, API Gateway or HTTP statuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claimsync.crm.body import require_object
from claimsync.crm.config import CrmConfigError
from claimsync.crm.errors import (
    CrmError,
    MissingParameters,
    PayloadTooLarge,
    ValidationFailed,
)
from claimsync.crm.idempotency import item_key
from claimsync.crm.ids import normalize_id
from claimsync.crm.objects import CrmObject, validate_fields
from claimsync.crm.soql import CursorCodec, QueryPolicy, check_record_types, guard_soql, strip_attributes
from claimsync.salesforce.errors import SalesforceError, SalesforceNotFound
from claimsync.salesforce.gateway import COLLECTION_LIMIT, RecordResult, SalesforceGateway

# -- records ---------------------------------------------------------------------------------------


def create_record(
    gw: SalesforceGateway, spec: CrmObject, body: Any, *, request_key: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Create a record; returns its 18-character id and the fields sent.

    With ``request_key`` (a keyed create, ``claimsync.crm.idempotency``) the record is upserted on
    the object's ``request_key_field``: if an earlier attempt with the same key created it, that
    record is the answer and no second one is made."""
    values = validate_fields(spec, require_object(body), partial=False)
    if request_key is None:
        return gw.create(spec.sobject, values), values
    try:
        record_id, _created = gw.upsert(spec.sobject, _request_key_field(spec), request_key, values)
    except SalesforceNotFound:
        raise _no_request_key_field(spec) from None
    return record_id, values


def _request_key_field(spec: CrmObject) -> str:
    if spec.request_key_field is None:  # the edge reads no Idempotency-Key for such an object
        raise CrmConfigError(f"{spec.sobject} declares no request key field: creates cannot be keyed")
    return spec.request_key_field


def _no_request_key_field(spec: CrmObject) -> CrmConfigError:
    """An upsert on the request key answered 404: the org lacks the field (an operator's job, 500),
    not a record the caller asked for (there is none in a create)."""
    return CrmConfigError(
        f"{spec.sobject}.{spec.request_key_field} is missing in Salesforce: deploy the salesforce/ metadata"
    )


def get_record(gw: SalesforceGateway, spec: CrmObject, raw_id: str) -> dict[str, Any]:
    record_id = normalize_id(raw_id, spec.key_prefix)
    record = gw.get(spec.sobject, record_id, list(spec.readable_fields))
    record.pop("attributes", None)
    return record


def update_record(gw: SalesforceGateway, spec: CrmObject, raw_id: str, body: Any) -> str:
    """Update only the given fields; returns the 18-character id."""
    record_id = normalize_id(raw_id, spec.key_prefix)
    values = validate_fields(spec, require_object(body), partial=True)
    gw.update(spec.sobject, record_id, values)
    return record_id


def delete_record(gw: SalesforceGateway, spec: CrmObject, raw_id: str) -> str:
    record_id = normalize_id(raw_id, spec.key_prefix)
    gw.delete(spec.sobject, record_id)
    return record_id


# -- SOQL ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryPage:
    total_size: int
    done: bool
    records: list[Any]
    next: str | None  # opaque cursor for the following page


def run_query(gw: SalesforceGateway, policy: QueryPolicy, body: Any, cursors: CursorCodec) -> QueryPage:
    """``{"soql": "SELECT ..."}`` for the first page, ``{"next": cursor}`` for the following ones.

    Only ``cursors`` can turn a ``next`` back into a Salesforce query locator, and every page's
    records must be of the object the guarded query read (``check_record_types``)."""
    request = require_object(body)
    unknown = sorted(set(request) - {"soql", "next"})
    if unknown:
        raise ValidationFailed(f"unknown parameters {unknown}; accepted: ['soql', 'next']", unknown)
    soql, cursor = request.get("soql"), request.get("next")
    if soql is not None and not isinstance(soql, str):
        raise ValidationFailed("soql must be a string", ["soql"])
    if cursor is not None:
        locator = cursors.open(cursor, policy)
        sobject, first_page = locator.sobject, False
        page = gw.query_page(next_url=locator.next_records_url)
    else:
        if soql is None or not soql.strip():
            raise MissingParameters("soql is required: a SOQL SELECT query")
        query = guard_soql(soql, policy)
        sobject, first_page = query.sobject, True
        page = gw.query_page(query.soql)
    records = page.get("records", [])
    check_record_types(records, sobject, policy, first_page=first_page)
    next_url = page.get("nextRecordsUrl")
    done = bool(page.get("done", True))
    return QueryPage(
        total_size=int(page.get("totalSize", 0)),
        done=done,
        records=strip_attributes(records),
        next=cursors.issue(sobject, next_url) if next_url and not done else None,
    )


# -- batch -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemResult:
    success: bool
    record_id: str | None = None
    error: str | None = None  # for the caller who sent the record: may echo its values


@dataclass(frozen=True)
class BatchResult:
    results: list[ItemResult]

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def successful(self) -> int:
        return sum(r.success for r in self.results)

    @property
    def failed(self) -> int:
        return self.total - self.successful


def batch_create(
    gw: SalesforceGateway, spec: CrmObject, body: Any, *, max_records: int, request_key: str | None = None
) -> BatchResult:
    """Validate each record like a create, send the valid ones through sObject Collections (≤200 per
    call), and report every record's outcome in input order.

    If Salesforce fails a whole call before any record was created, the error propagates (the caller
    may simply retry). After some records were created, the records not yet created are reported as
    failed instead, so the caller learns which ones exist.

    With ``request_key`` every record is upserted on the object's ``request_key_field`` with a value
    of its own (``item_key``), so a retry of the same keyed batch finds the records an earlier attempt made;
    and a failed call always fails the request (nothing is stored for the key), because a call whose
    answer was lost may have created its records: the caller's retry settles it exactly.
    """
    records = _batch_records(body, max_records)
    results: list[ItemResult | None] = [None] * len(records)
    valid: list[tuple[int, dict[str, Any]]] = []
    for i, item in enumerate(records):
        try:
            valid.append((i, validate_fields(spec, require_object(item, "a record"), partial=False)))
        except CrmError as exc:
            results[i] = ItemResult(False, error=f"VALIDATION_ERROR: {exc}")

    created = 0
    for start in range(0, len(valid), COLLECTION_LIMIT):
        chunk = valid[start : start + COLLECTION_LIMIT]
        try:
            outcomes = _send_chunk(gw, spec, chunk, request_key)
        except SalesforceError as exc:
            if created == 0 or request_key is not None:
                raise  # nothing to report yet, or a keyed batch: its retry upserts every record again
            for i, _ in valid[start:]:
                results[i] = ItemResult(False, error=f"{exc.code}: not sent, Salesforce failed the call")
            break
        for (i, _), outcome in zip(chunk, outcomes, strict=True):
            results[i] = _item_result(outcome)
            created += outcome.success
    return BatchResult([r if r is not None else ItemResult(False, error="INTERNAL_ERROR") for r in results])


def _batch_records(body: Any, max_records: int) -> list[Any]:
    """The records of a batch body: a non-empty JSON list of at most ``max_records``."""
    if not isinstance(body, list):
        raise ValidationFailed("the request body must be a JSON list of records")
    if not body:
        raise MissingParameters("the list of records is empty")
    if len(body) > max_records:
        raise PayloadTooLarge(f"a batch may hold at most {max_records} records")
    return body


def _send_chunk(
    gw: SalesforceGateway, spec: CrmObject, chunk: list[tuple[int, dict[str, Any]]], request_key: str | None
) -> list[RecordResult]:
    """One sObject Collections call: a create, or for a keyed batch an upsert of every record on its
    own ``item_key`` (the record's position in the batch)."""
    if request_key is None:
        return gw.collections_create(spec.sobject, [values for _, values in chunk])
    key_field = _request_key_field(spec)
    keyed = [{**values, key_field: item_key(request_key, i)} for i, values in chunk]
    try:
        return gw.collections_upsert(spec.sobject, key_field, keyed)
    except SalesforceNotFound:
        raise _no_request_key_field(spec) from None


def _item_result(outcome: RecordResult) -> ItemResult:
    if outcome.success:
        return ItemResult(True, record_id=outcome.id)
    message = f": {outcome.error_detail}" if outcome.error_detail else ""
    return ItemResult(False, error=f"{outcome.error_code or 'UNKNOWN_ERROR'}{message}")


# -- health ----------------------------------------------------------------------------------------


def salesforce_connected(gw: SalesforceGateway) -> bool:
    """True when an authenticated call succeeds (``/limits``: one cheap API call)."""
    try:
        gw.limits()
    except SalesforceError:
        return False
    return True
