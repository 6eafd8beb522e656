"""The CollaborateMD Web API client: start a report, fetch its results.

The one place where HTTP to CollaborateMD happens (``CollaborateMDClient._post``) and the one table
from CollaborateMD statuses to local exceptions. Responses are requested as JSON; the field casing
(``Status`` or ``status``) is not certain, so keys are matched case-insensitively.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import IO, Any, Literal

import requests

from claimsync.errors import ClaimsyncError


class CollaborateMDError(ClaimsyncError):
    """A CollaborateMD call failed. Messages name the status, never report data."""


class CmdUnavailable(CollaborateMDError):
    """HTTP 5xx, timeouts or connection failures."""

    transient = True


class CmdReportBusy(CollaborateMDError):
    """``REPORT RUNNING`` on start: a previous report of this customer is still running."""

    transient = True


class CmdAuthError(CollaborateMDError):
    """HTTP 401/403: the credentials are wrong or lack report access."""


class CmdReportRejected(CollaborateMDError):
    """``NOT FOUND`` / ``INVALID CRITERIA`` / ``ERROR``: the report cannot run as configured."""


class CmdReportFailed(CollaborateMDError):
    """``REPORT TIMED OUT`` or ``ERROR`` on results: final for that request."""


class CmdBadResponse(CollaborateMDError):
    """The response is not what the contract says (bad JSON, bad Base64, unknown status)."""


@dataclass(frozen=True, repr=False)
class CmdSettings:
    base_url: str
    username: str
    password: str
    customer: str
    report_id: str
    filter_id: str

    def __repr__(self) -> str:
        return f"CmdSettings(base_url={self.base_url!r}, customer=<set>)"

    @classmethod
    def from_secret(cls, data: dict[str, Any]) -> CmdSettings:
        keys = ("base_url", "username", "password", "customer", "report_id", "filter_id")
        missing = [k for k in keys if not data.get(k)]
        if missing:
            raise ValueError(f"collaboratemd secret: missing keys {missing}")
        return cls(**{k: str(data[k]) for k in keys})


@dataclass(frozen=True)
class ReportPoll:
    state: Literal["RUNNING", "READY"]
    size: int = 0  # bytes of ZIP written to the spool, when READY


class CollaborateMDClient:
    def __init__(
        self,
        settings: CmdSettings,
        *,
        http: requests.Session | None = None,
        timeout_s: float = 60.0,
        ca_bundle: str | None = None,
    ) -> None:
        self._s = settings
        self._http = http or requests.Session()
        # Passed on every request: a Session's own ``verify`` loses to REQUESTS_CA_BUNDLE in requests.
        self._verify: str | bool = ca_bundle or True
        self._timeout = (5.0, timeout_s)

    def start_report(self) -> str:
        """Start the configured report; return the request identifier to poll."""
        s = self._s
        body = self._post(f"/v1/customer/{s.customer}/reports/{s.report_id}/filter/{s.filter_id}/run", "run")
        status = _field(body, "Status").upper()
        if status == "SUCCESS":
            identifier = _field(body, "Identifier")
            if not identifier:
                raise CmdBadResponse("run: SUCCESS without an Identifier")
            return identifier
        if status == "REPORT RUNNING":
            raise CmdReportBusy("run: REPORT RUNNING (a previous report is still running)")
        if status in ("NOT FOUND", "INVALID CRITERIA", "ERROR"):
            raise CmdReportRejected(f"run: {status}")
        raise CmdBadResponse("run: unknown status")

    def poll_results(self, identifier: str, spool: IO[bytes]) -> ReportPoll:
        """Ask for the results once. When ready, the report's ZIP is written to ``spool``, streamed:
        the response body is never held whole (``Data`` is the Base64 of the whole report)."""
        path = f"/v1/customer/{self._s.customer}/reports/results/{identifier}"
        with self._request(path, "results", stream=True) as resp:
            envelope = _Envelope(spool)
            try:
                for chunk in resp.iter_content(chunk_size=1 << 16):
                    envelope.feed(chunk)
            except requests.RequestException as exc:
                raise CmdUnavailable(f"results: {type(exc).__name__}") from None
            body = envelope.close()
        status = _field(body, "Status").upper()
        if status == "REPORT RUNNING":
            return ReportPoll("RUNNING")
        if status == "SUCCESS":
            if not envelope.data_bytes:
                raise CmdBadResponse("results: SUCCESS without Data")
            return ReportPoll("READY", envelope.data_bytes)
        if status in ("REPORT TIMED OUT", "ERROR", "NOT FOUND"):
            raise CmdReportFailed(f"results: {status}")
        raise CmdBadResponse("results: unknown status")

    def _post(self, path: str, operation: str) -> dict[str, Any]:
        with self._request(path, operation) as resp:
            try:
                body = resp.json()
            except ValueError:
                raise CmdBadResponse(f"{operation}: response is not JSON") from None
        if not isinstance(body, dict):
            raise CmdBadResponse(f"{operation}: response is not a JSON object")
        return body

    def _request(self, path: str, operation: str, *, stream: bool = False) -> requests.Response:
        """The one place HTTP to CollaborateMD happens; non-2xx answers become exceptions here."""
        try:
            resp = self._http.post(
                self._s.base_url.rstrip("/") + path,
                auth=(self._s.username, self._s.password),
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                verify=self._verify,
                stream=stream,
            )
        except requests.RequestException as exc:
            raise CmdUnavailable(f"{operation}: {type(exc).__name__}") from None
        if resp.status_code != 200:
            resp.close()
        if resp.status_code >= 500:
            raise CmdUnavailable(f"{operation}: HTTP {resp.status_code}")
        if resp.status_code in (401, 403):
            raise CmdAuthError(f"{operation}: HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise CmdBadResponse(f"{operation}: HTTP {resp.status_code}")
        return resp


class _Envelope:
    """An incremental reader of the results JSON object: its small fields are kept, its ``Data``
    string (the Base64 report) is decoded chunk by chunk into ``sink`` as it arrives.

    A JSON string cannot hold an unescaped quote, so the first ``"Data": "`` (any casing) is the
    key; the object is then checked whole with ``Data`` emptied."""

    _KEY = re.compile(rb'"data"\s*:\s*"', re.IGNORECASE)

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink
        self._head = bytearray()
        self._tail = bytearray()
        self._in_data = self._after_data = False
        self._b64 = bytearray()  # Base64 characters not yet decoded (fewer than a quantum)
        self._escape = False
        self.data_bytes = 0

    def feed(self, chunk: bytes) -> None:
        if self._after_data:
            self._tail += chunk
            return
        if not self._in_data:
            self._head += chunk
            match = self._KEY.search(self._head)
            if match is None:
                if len(self._head) > 1 << 20:
                    raise CmdBadResponse("results: no Data in the first MB of the response")
                return
            chunk = bytes(self._head[match.end() :])
            del self._head[match.end() - 1 :]  # keep up to the opening quote's position
            self._in_data = True
        self._data(chunk)

    def _data(self, chunk: bytes) -> None:
        if self._escape:  # a backslash ended the previous chunk
            chunk, self._escape = b"\\" + chunk, False
        quote = chunk.find(b'"')
        body = chunk if quote < 0 else chunk[:quote]
        if body.endswith(b"\\"):
            body, self._escape = body[:-1], True
        body = body.replace(b"\\/", b"/")  # JSON may write "/" as "\/"; Base64 needs no other escape
        if b"\\" in body:
            raise CmdBadResponse("results: Data is not valid Base64")
        self._decode(body)
        if quote >= 0:
            self._in_data, self._after_data = False, True
            self._tail += chunk[quote + 1 :]

    def _decode(self, text: bytes | bytearray) -> None:
        self._b64 += text
        usable = len(self._b64) - len(self._b64) % 4
        if usable:
            try:
                decoded = base64.b64decode(bytes(self._b64[:usable]), validate=True)
            except (binascii.Error, ValueError):
                raise CmdBadResponse("results: Data is not valid Base64") from None
            self._sink.write(decoded)
            self.data_bytes += len(decoded)
            del self._b64[:usable]

    def close(self) -> dict[str, Any]:
        if self._in_data or self._b64:
            raise CmdBadResponse("results: the response ended inside Data")
        document = bytes(self._head) + (b'""' + bytes(self._tail) if self._after_data else b"")
        try:
            body = json.loads(document)
        except ValueError:
            raise CmdBadResponse("results: response is not JSON") from None
        if not isinstance(body, dict):
            raise CmdBadResponse("results: response is not a JSON object")
        return body


def _field(body: dict[str, Any], name: str) -> str:
    """A response field by name, whatever its casing (``Status`` / ``status``)."""
    wanted = name.lower()
    for key, value in body.items():
        if key.lower() == wanted:
            return "" if value is None else str(value)
    return ""
