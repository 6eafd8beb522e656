"""The Salesforce gateway: OAuth login, REST sObjects, SOQL, sObject Collections and Bulk API 2.0.

This module is the one place where HTTP to Salesforce happens (``SalesforceGateway._send``) and the
one table from Salesforce error codes to local exceptions (``_ERRORS``). It is used by the claim
sync and by the CRM API alike.

PHI rule: Salesforce error messages can echo field values (``STRING_TOO_LONG`` does), and URLs of
queries carry SOQL literals. So exceptions raised here keep Salesforce's own message in
``SalesforceError.detail`` (for an API caller who sent the value) and never put it, or a URL, in
``str(exc)``. Log ``exc.code`` — never ``exc.detail``.
"""

from __future__ import annotations

import gzip
import json as _json
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal
from urllib.parse import quote

import requests

from claimsync import jwt_bearer
from claimsync.errors import ClaimsyncError
from claimsync.jwt_bearer import Signer

Grant = Literal["password", "client_credentials", "jwt"]
BulkResultKind = Literal["successfulResults", "failedResults", "unprocessedrecords"]
# The Salesforce API version every call of this project uses (REST, SOQL, Collections, Bulk API 2.0):
# the one place it is written. The sfdx metadata (salesforce/sfdx-project.json ``sourceApiVersion``)
# agrees with it (a test checks); a deployment may override it (cdk.json ``sync.salesforce_api_version``).
API_VERSION = "62.0"
API_VERSION_PATTERN = r"\d{2,3}\.0"  # what a deployment's override must look like ("62.0", not "v62")
COLLECTION_LIMIT = 200  # records per sObject Collections request
GZIP_MIN_BYTES = 2048
# Salesforce documents request compression for the REST API; for Bulk API 2.0 only response
# compression is documented, so Bulk CSV uploads are sent as they are.
UNCOMPRESSED_KINDS = frozenset({"bulk_upload"})


# --------------------------------------------------------------------------------------------------
# Errors


class SalesforceError(ClaimsyncError):
    """A Salesforce call failed. ``str(exc)`` holds the error code and the operation, never values."""

    def __init__(
        self,
        code: str,
        *,
        status: int | None = None,
        operation: str = "",
        detail: str = "",
        fields: Sequence[str] = (),
    ) -> None:
        self.code = code
        self.status = status
        self.operation = operation
        self.detail = detail  # Salesforce's own message; may contain values: never log it
        self.fields = tuple(fields)
        super().__init__(f"{code} ({operation}, HTTP {status})" if status else f"{code} ({operation})")


class SalesforceUnavailable(SalesforceError):
    """5xx, timeouts, connection failures: worth retrying later."""

    transient = True


class SalesforceLimitExceeded(SalesforceError):
    """REQUEST_LIMIT_EXCEEDED: the org's API allocation (or concurrency) is exhausted."""

    transient = True


class SalesforceLockError(SalesforceError):
    """UNABLE_TO_LOCK_ROW on a synchronous call."""

    transient = True


class SalesforceAuthError(SalesforceError):
    """Login failed, or the session stayed invalid after one re-login."""


class SalesforceNotFound(SalesforceError):
    """The record or resource does not exist."""


class SalesforceQueryError(SalesforceError):
    """SOQL rejected: MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE."""


class SalesforceRequestError(SalesforceError):
    """Any other 4xx: validation errors (REQUIRED_FIELD_MISSING, STRING_TOO_LONG, ...)."""


_ERRORS: dict[str, type[SalesforceError]] = {
    "REQUEST_LIMIT_EXCEEDED": SalesforceLimitExceeded,
    "INVALID_SESSION_ID": SalesforceAuthError,
    "NOT_FOUND": SalesforceNotFound,
    "MALFORMED_QUERY": SalesforceQueryError,
    "INVALID_FIELD": SalesforceQueryError,
    "INVALID_TYPE": SalesforceQueryError,
    "INVALID_QUERY_LOCATOR": SalesforceQueryError,
    "SERVER_UNAVAILABLE": SalesforceUnavailable,
    "UNABLE_TO_LOCK_ROW": SalesforceLockError,
}

# Record-level codes worth another attempt (Bulk failedResults, Collections results).
TRANSIENT_RECORD_ERRORS = frozenset(
    {"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION"}
)


def _error_from_response(resp: requests.Response, operation: str) -> SalesforceError:
    code, detail, fields = "UNKNOWN_ERROR", "", ()
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, list) and body and isinstance(body[0], Mapping):
        code = str(body[0].get("errorCode") or code)
        detail = str(body[0].get("message") or "")
        fields = tuple(body[0].get("fields") or ())
    elif isinstance(body, Mapping) and "error" in body:  # OAuth error shape
        code = str(body.get("error"))
        detail = str(body.get("error_description") or "")
    if resp.status_code >= 500 and code not in _ERRORS:
        cls: type[SalesforceError] = SalesforceUnavailable
    else:
        cls = _ERRORS.get(code, SalesforceRequestError)
    if resp.status_code == 404 and code == "UNKNOWN_ERROR":
        code, cls = "NOT_FOUND", SalesforceNotFound
    return cls(code, status=resp.status_code, operation=operation, detail=detail, fields=fields)


# --------------------------------------------------------------------------------------------------
# Credentials and results


@dataclass(frozen=True, repr=False)
class SalesforceCredentials:
    """How to obtain a session. Built from the Secrets Manager secret (``from_secret``)."""

    token_url: str
    grant: Grant
    client_id: str
    client_secret: str = ""
    username: str = ""
    password: str = ""  # password followed by the security token, where the org needs one
    kms_key_id: str = ""  # the JWT bearer grant's asymmetric KMS signing key (ARN, id or alias/...)
    audience: str = "https://login.salesforce.com"

    def __repr__(self) -> str:  # never print secrets
        return f"SalesforceCredentials(token_url={self.token_url!r}, grant={self.grant!r})"

    @classmethod
    def from_secret(cls, data: Mapping[str, Any]) -> SalesforceCredentials:
        grant = data.get("grant", "password")
        if grant not in ("password", "client_credentials", "jwt"):
            raise ValueError("salesforce secret: grant must be password, client_credentials or jwt")
        required = {
            "password": ("token_url", "client_id", "client_secret", "username", "password"),
            "client_credentials": ("token_url", "client_id", "client_secret"),
            "jwt": ("token_url", "client_id", "username", "kms_key_id"),
        }[grant]
        if grant == "jwt" and data.get("private_key") and not data.get("kms_key_id"):
            raise ValueError(
                "salesforce secret: the jwt grant signs with a KMS key (kms_key_id); a private key in the "
                "secret is not supported (docs/runbook.md, JWT bearer grant)"
            )
        missing = [k for k in required if not data.get(k)]
        if missing:
            raise ValueError(f"salesforce secret: missing keys {missing} for grant {grant}")
        allowed = {f for f in cls.__dataclass_fields__}
        return cls(**{k: str(v) for k, v in data.items() if k in allowed})  # type: ignore[arg-type]


@dataclass(frozen=True)
class RecordResult:
    """One record's outcome of a Collections call, in request order."""

    success: bool
    id: str | None = None
    created: bool | None = None
    error_code: str | None = None
    error_detail: str = ""  # may echo values: never log


@dataclass
class _Session:
    access_token: str
    instance_url: str


@dataclass
class CallStats:
    calls: Counter[str] = field(default_factory=Counter)
    logins: int = 0
    bytes_sent: int = 0  # request bodies on the wire (after compression), for the cost of a run
    body_bytes: int = 0  # the same bodies uncompressed
    api_used: int | None = None
    api_max: int | None = None


# --------------------------------------------------------------------------------------------------
# Gateway


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
        self._session: _Session | None = None
        self.stats = CallStats()

    # -- session ---------------------------------------------------------------------------------

    @property
    def logged_in(self) -> bool:
        return self._session is not None

    def login(self) -> None:
        c = self._credentials
        form: dict[str, str]
        if c.grant == "password":
            form = {
                "grant_type": "password",
                "client_id": c.client_id,
                "client_secret": c.client_secret,
                "username": c.username,
                "password": c.password,
            }
        elif c.grant == "client_credentials":
            form = {
                "grant_type": "client_credentials",
                "client_id": c.client_id,
                "client_secret": c.client_secret,
            }
        else:
            if self._signer is None:
                self._signer = jwt_bearer.KmsSigner(jwt_bearer.kms_client_for(c.kms_key_id), c.kms_key_id)
            try:
                assertion = jwt_bearer.assertion(
                    c.client_id, c.username, c.audience, now=int(time.time()), sign=self._signer
                )
            except jwt_bearer.SigningError as exc:  # KMS's error code only: no key material exists here
                cls = SalesforceUnavailable if exc.transient else SalesforceAuthError
                raise cls("JWT_SIGNING_FAILED", operation="login", detail=f"KMS Sign: {exc.code}") from None
            form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        try:
            resp = self._http.post(c.token_url, data=form, timeout=self._timeout, verify=self._verify)
        except requests.RequestException as exc:
            raise SalesforceUnavailable(type(exc).__name__, operation="login") from None
        self.stats.logins += 1
        if resp.status_code >= 500:
            raise SalesforceUnavailable("SERVER_UNAVAILABLE", status=resp.status_code, operation="login")
        if resp.status_code != 200:
            err = _error_from_response(resp, "login")
            raise SalesforceAuthError(err.code, status=resp.status_code, operation="login", detail=err.detail)
        body = resp.json()
        self._session = _Session(
            access_token=body["access_token"], instance_url=body["instance_url"].rstrip("/")
        )

    def _ensure_session(self) -> _Session:
        if self._session is None:
            self.login()
        assert self._session is not None
        return self._session

    # -- the one place HTTP happens -----------------------------------------------------------------

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
        """``path`` is relative to ``/services/data/vXX.X/`` unless it starts with ``/services/``.

        ``data`` may be a file (sent streamed, from its start, again on a retry); ``stream`` leaves
        the response body to be read by the caller."""
        for attempt in (1, 2):
            session = self._ensure_session()
            url = session.instance_url + (path if path.startswith("/services/") else f"{self._base}/{path}")
            headers = {"Authorization": f"Bearer {session.access_token}", "Accept": accept}
            if json is not None:  # compact JSON: Collections bodies are most of an incremental run's bytes
                data = _json.dumps(json, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
                content_type = "application/json"
            if content_type:
                headers["Content-Type"] = content_type
            body = data
            size = 0
            if isinstance(data, bytes):
                size = len(data)
                if size > GZIP_MIN_BYTES and kind not in UNCOMPRESSED_KINDS:
                    body = gzip.compress(data, compresslevel=5)  # REST API decompresses gzip requests
                    headers["Content-Encoding"] = "gzip"
            elif data is not None:
                size = data.seek(0, 2)
                data.seek(0)
            try:
                resp = self._http.request(
                    method,
                    url,
                    headers=headers,
                    data=body,
                    params=params,
                    timeout=self._timeout,
                    verify=self._verify,
                    stream=stream,
                )
            except requests.RequestException as exc:
                raise SalesforceUnavailable(type(exc).__name__, operation=kind) from None
            self.stats.calls[kind] += 1
            self.stats.bytes_sent += len(body) if isinstance(body, bytes) else size
            self.stats.body_bytes += size
            self._note_usage(resp)
            if resp.status_code < 300:
                return resp
            error = _error_from_response(resp, kind)
            if error.code == "INVALID_SESSION_ID" and attempt == 1:
                self._session = None  # expired: log in once more and repeat the call
                continue
            raise error
        raise AssertionError("unreachable")

    @property
    def _base(self) -> str:
        return f"/services/data/v{self._version}"

    def _note_usage(self, resp: requests.Response) -> None:
        info = resp.headers.get("Sforce-Limit-Info", "")
        for part in info.split(","):
            name, _, value = part.strip().partition("=")
            if name == "api-usage" and "/" in value:
                used, _, total = value.partition("/")
                if used.isdigit() and total.isdigit():
                    self.stats.api_used, self.stats.api_max = int(used), int(total)

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
        return self._collections(
            "PATCH",
            f"composite/sobjects/{sobject}/{external_id_field}",
            sobject,
            records,
            "collections_upsert",
        )

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
        out = []
        for r in results:
            errors = r.get("errors") or []
            first = errors[0] if errors else {}
            out.append(
                RecordResult(
                    success=bool(r.get("success")),
                    id=r.get("id"),
                    created=r.get("created"),
                    error_code=first.get("statusCode") or first.get("errorCode") if errors else None,
                    error_detail=str(first.get("message", "")) if errors else "",
                )
            )
        return out

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
