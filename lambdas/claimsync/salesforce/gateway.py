"""The Salesforce gateway: a logged-in org offering REST sObjects, SOQL, sObject Collections and Bulk
API 2.0 ingest.

``SalesforceGateway._request`` is the one place where HTTP to Salesforce happens: the token request
of a login and every API call (through ``_send``, which adds the session, encodes the body and logs in
once more when Salesforce says the session expired). Failures become the exceptions of
:mod:`claimsync.salesforce.errors`, whose messages carry no value and no URL.
"""

from __future__ import annotations

import gzip
import json as _json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal
from urllib.parse import quote

import requests

from claimsync import jwt_bearer
from claimsync.jwt_bearer import Signer
from claimsync.salesforce import API_VERSION
from claimsync.salesforce.auth import SalesforceCredentials, Session, token_form
from claimsync.salesforce.errors import (
    SalesforceAuthError,
    SalesforceQueryError,
    SalesforceRequestError,
    SalesforceUnavailable,
    error_from_response,
)

BulkResultKind = Literal["successfulResults", "failedResults", "unprocessedrecords"]
COLLECTION_LIMIT = 200  # records per sObject Collections request
GZIP_MIN_BYTES = 2048
# Salesforce documents request compression for the REST API; for Bulk API 2.0 only response
# compression is documented, so Bulk CSV uploads are sent as they are.
UNCOMPRESSED_KINDS = frozenset({"bulk_upload"})


@dataclass(frozen=True)
class RecordResult:
    """One record's outcome of a Collections call, in request order."""

    success: bool
    id: str | None = None
    created: bool | None = None
    error_code: str | None = None
    error_detail: str = ""  # may echo values: never log

    @classmethod
    def from_json(cls, result: Mapping[str, Any]) -> RecordResult:
        errors = result.get("errors") or []
        first = errors[0] if errors else {}
        return cls(
            success=bool(result.get("success")),
            id=result.get("id"),
            created=result.get("created"),
            error_code=first.get("statusCode") or first.get("errorCode") if errors else None,
            error_detail=str(first.get("message", "")) if errors else "",
        )


@dataclass
class CallStats:
    calls: Counter[str] = field(default_factory=Counter)
    logins: int = 0
    bytes_sent: int = 0  # request bodies on the wire (after compression), for the cost of a run
    body_bytes: int = 0  # the same bodies uncompressed
    api_used: int | None = None
    api_max: int | None = None

    def count(self, kind: str, body: _Body, resp: requests.Response) -> None:
        """One call: its body's bytes, and the org's API usage from ``Sforce-Limit-Info: api-usage=used/max``."""
        self.calls[kind] += 1
        self.bytes_sent += body.wire_size
        self.body_bytes += body.size
        for part in resp.headers.get("Sforce-Limit-Info", "").split(","):
            name, _, value = part.strip().partition("=")
            used, _, total = value.partition("/")
            if name == "api-usage" and used.isdigit() and total.isdigit():
                self.api_used, self.api_max = int(used), int(total)


@dataclass(frozen=True)
class _Body:
    """A request body as sent: its content, the headers describing it, its size before and after
    compression."""

    content: bytes | IO[bytes] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    size: int = 0
    wire_size: int = 0


def _encode(kind: str, json: Any, data: bytes | IO[bytes] | None, content_type: str | None) -> _Body:
    """``json`` as compact UTF-8 JSON (Collections bodies are most of an incremental run's bytes), or
    ``data``; bytes over ``GZIP_MIN_BYTES`` gzip-compressed (the REST API decompresses gzip requests)
    unless ``kind`` is uncompressed; a file rewound to be sent from its start (again on a retry)."""
    if json is not None:
        data = _json.dumps(json, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        content_type = "application/json"
    headers = {"Content-Type": content_type} if content_type else {}
    if data is None:
        return _Body(headers=headers)
    if not isinstance(data, bytes):
        size = data.seek(0, 2)
        data.seek(0)
        return _Body(data, headers, size, size)
    if len(data) > GZIP_MIN_BYTES and kind not in UNCOMPRESSED_KINDS:
        compressed = gzip.compress(data, compresslevel=5)
        return _Body(compressed, {**headers, "Content-Encoding": "gzip"}, len(data), len(compressed))
    return _Body(data, headers, len(data), len(data))


class SalesforceGateway:
    """A logged-in Salesforce org. Create once per process (cold start) and reuse: it logs in lazily,
    keeps the session, and logs in again once when Salesforce says the session expired."""

    def __init__(
        self,
        credentials: SalesforceCredentials,
        *,
        api_version: str = API_VERSION,
        http: requests.Session | None = None,
        timeout_s: float = 30.0,
        ca_bundle: str | None = None,
        signer: Signer | None = None,
    ) -> None:
        """``signer`` makes the JWT grant's RS256 signatures; by default KMS ``Sign`` with the secret's
        ``kms_key_id`` (a KMS client built on the first login)."""
        self._credentials = credentials
        self._signer = signer
        self._version = api_version
        self._http = http or requests.Session()
        # Passed on every request: a Session's own ``verify`` loses to REQUESTS_CA_BUNDLE in requests.
        self._verify: str | bool = ca_bundle or True
        self._timeout = (5.0, timeout_s)
        self._session: Session | None = None
        self.stats = CallStats()

    # -- the one place HTTP happens -----------------------------------------------------------------

    def _request(self, method: str, url: str, *, operation: str, **kwargs: Any) -> requests.Response:
        try:
            return self._http.request(method, url, timeout=self._timeout, verify=self._verify, **kwargs)
        except requests.RequestException as exc:
            raise SalesforceUnavailable(type(exc).__name__, operation=operation) from None

    # -- session ---------------------------------------------------------------------------------

    @property
    def logged_in(self) -> bool:
        return self._session is not None

    def login(self) -> None:
        c = self._credentials
        form = token_form(c, self._jwt_signer() if c.grant == "jwt" else None)
        resp = self._request("POST", c.token_url, operation="login", data=form)
        self.stats.logins += 1
        if resp.status_code >= 500:
            raise SalesforceUnavailable("SERVER_UNAVAILABLE", status=resp.status_code, operation="login")
        if resp.status_code != 200:
            err = error_from_response(resp, "login")
            raise SalesforceAuthError(err.code, status=resp.status_code, operation="login", detail=err.detail)
        self._session = Session.from_token_response(resp.json())

    def _jwt_signer(self) -> Signer:
        if self._signer is None:
            key = self._credentials.kms_key_id
            self._signer = jwt_bearer.KmsSigner(jwt_bearer.kms_client_for(key), key)
        return self._signer

    def _ensure_session(self) -> Session:
        if self._session is None:
            self.login()
        assert self._session is not None
        return self._session

    def _send(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        json: Any = None,
        data: bytes | IO[bytes] | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str | None = None,
        accept: str = "application/json",
        stream: bool = False,
    ) -> requests.Response:
        """An API call, ``kind`` naming it in errors and stats. ``path`` is relative to
        ``/services/data/vXX.X/`` unless it starts with ``/services/``.

        ``data`` may be a file (sent streamed, from its start, again on a retry); ``stream`` leaves
        the response body to be read by the caller."""
        for attempt in (1, 2):
            session = self._ensure_session()
            url = session.instance_url + (path if path.startswith("/services/") else f"{self._base}/{path}")
            body = _encode(kind, json, data, content_type)
            headers = {"Authorization": f"Bearer {session.access_token}", "Accept": accept, **body.headers}
            resp = self._request(
                method, url, operation=kind, headers=headers, data=body.content, params=params, stream=stream
            )
            self.stats.count(kind, body, resp)
            if resp.status_code < 300:
                return resp
            error = error_from_response(resp, kind)
            if error.code != "INVALID_SESSION_ID" or attempt == 2:
                raise error
            self._session = None  # expired: log in once more and repeat the call
        raise AssertionError("unreachable")

    @property
    def _base(self) -> str:
        return f"/services/data/v{self._version}"

    # -- REST: records -------------------------------------------------------------------------------

    def create(self, sobject: str, fields: Mapping[str, Any]) -> str:
        body = self._send("POST", f"sobjects/{sobject}/", kind="sobject_create", json=dict(fields)).json()
        return str(body["id"])

    def upsert(
        self, sobject: str, external_id_field: str, external_id: str, fields: Mapping[str, Any]
    ) -> tuple[str, bool]:
        """Create or update the record whose ``external_id_field`` is ``external_id``: (id, created)."""
        path = f"sobjects/{sobject}/{external_id_field}/{quote(external_id, safe='')}"
        body = self._send("PATCH", path, kind="sobject_upsert", json=dict(fields)).json()
        return str(body["id"]), bool(body.get("created"))

    def get(self, sobject: str, record_id: str, fields: Sequence[str] | None = None) -> dict[str, Any]:
        params = {"fields": ",".join(fields)} if fields else None
        resp = self._send("GET", f"sobjects/{sobject}/{quote(record_id)}", kind="sobject_get", params=params)
        record: dict[str, Any] = resp.json()
        return record

    def update(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None:
        self._send(
            "PATCH", f"sobjects/{sobject}/{quote(record_id)}", kind="sobject_update", json=dict(fields)
        )

    def delete(self, sobject: str, record_id: str) -> None:
        self._send("DELETE", f"sobjects/{sobject}/{quote(record_id)}", kind="sobject_delete")

    def limits(self) -> dict[str, Any]:
        result: dict[str, Any] = self._send("GET", "limits/", kind="limits").json()
        return result

    # -- SOQL ----------------------------------------------------------------------------------------

    def query_page(self, soql: str | None = None, *, next_url: str | None = None) -> dict[str, Any]:
        """One page of results: ``{"totalSize", "done", "records", "nextRecordsUrl"?}``."""
        if next_url:
            if not next_url.startswith(f"{self._base}/query/"):
                raise SalesforceQueryError("INVALID_QUERY_LOCATOR", operation="query_more")
            page: dict[str, Any] = self._send("GET", next_url, kind="query_more").json()
        else:
            page = self._send("GET", "query/", kind="query", params={"q": soql or ""}).json()
        return page

    def query_all(self, soql: str) -> Iterator[dict[str, Any]]:
        """Every record of a query, following ``nextRecordsUrl``."""
        page = self.query_page(soql)
        while True:
            for record in page.get("records", []):
                record.pop("attributes", None)
                yield record
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self.query_page(next_url=next_url)

    # -- sObject Collections ---------------------------------------------------------------------------

    def collections_upsert(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        path = f"composite/sobjects/{sobject}/{external_id_field}"
        return self._collections("PATCH", path, sobject, records, "collections_upsert")

    def collections_create(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        return self._collections("POST", "composite/sobjects", sobject, records, "collections_create")

    def _collections(
        self, method: str, path: str, sobject: str, records: Sequence[Mapping[str, Any]], kind: str
    ) -> list[RecordResult]:
        if len(records) > COLLECTION_LIMIT:
            raise ValueError(f"sObject Collections take at most {COLLECTION_LIMIT} records per call")
        payload = {
            "allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **dict(r)} for r in records],
        }
        results = self._send(method, path, kind=kind, json=payload).json()
        return [RecordResult.from_json(r) for r in results]

    # -- Bulk API 2.0 ingest ---------------------------------------------------------------------------

    def bulk_create_job(self, sobject: str, external_id_field: str, operation: str = "upsert") -> str:
        body = {
            "object": sobject,
            "operation": operation,
            "externalIdFieldName": external_id_field,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        return str(self._send("POST", "jobs/ingest", kind="bulk_create_job", json=body).json()["id"])

    def bulk_upload(self, job_id: str, csv_document: bytes | IO[bytes]) -> None:
        """The job's one upload; a file is streamed (a 100 MB document need not be in memory)."""
        resp = self._send(
            "PUT",
            f"jobs/ingest/{job_id}/batches",
            kind="bulk_upload",
            data=csv_document,
            content_type="text/csv",
        )
        if resp.status_code != 201:
            raise SalesforceRequestError(
                "UPLOAD_NOT_ACCEPTED", status=resp.status_code, operation="bulk_upload"
            )

    def bulk_close(self, job_id: str) -> None:
        self._send("PATCH", f"jobs/ingest/{job_id}", kind="bulk_close", json={"state": "UploadComplete"})

    def bulk_abort(self, job_id: str) -> None:
        self._send("PATCH", f"jobs/ingest/{job_id}", kind="bulk_abort", json={"state": "Aborted"})

    def bulk_job(self, job_id: str) -> dict[str, Any]:
        info: dict[str, Any] = self._send("GET", f"jobs/ingest/{job_id}", kind="bulk_get_job").json()
        return info

    def bulk_results(self, job_id: str, kind: BulkResultKind, sink: IO[bytes]) -> int:
        """The job's result CSV written to ``sink`` as it arrives; returns its size in bytes."""
        path = f"jobs/ingest/{job_id}/{kind}/"
        size = 0
        with self._send("GET", path, kind="bulk_results", accept="text/csv", stream=True) as resp:
            try:
                for chunk in resp.iter_content(chunk_size=1 << 16):
                    sink.write(chunk)
                    size += len(chunk)
            except requests.RequestException as exc:
                raise SalesforceUnavailable(type(exc).__name__, operation="bulk_results") from None
        return size
