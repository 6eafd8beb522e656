"""The CollaborateMD Web API client: start a report, fetch its results.

The one place where HTTP to CollaborateMD happens (``CollaborateMDClient._post``) and the one table
from CollaborateMD statuses to local exceptions. Responses are requested as JSON; the field casing
(``Status`` or ``status``) is not certain, so keys are matched case-insensitively.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Literal

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
    data: bytes | None = None  # the ZIP, when READY


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

    def poll_results(self, identifier: str) -> ReportPoll:
        body = self._post(f"/v1/customer/{self._s.customer}/reports/results/{identifier}", "results")
        status = _field(body, "Status").upper()
        if status == "REPORT RUNNING":
            return ReportPoll("RUNNING")
        if status == "SUCCESS":
            try:
                return ReportPoll("READY", base64.b64decode(_field(body, "Data"), validate=True))
            except (binascii.Error, ValueError):
                raise CmdBadResponse("results: Data is not valid Base64") from None
        if status in ("REPORT TIMED OUT", "ERROR", "NOT FOUND"):
            raise CmdReportFailed(f"results: {status}")
        raise CmdBadResponse("results: unknown status")

    def _post(self, path: str, operation: str) -> dict[str, Any]:
        try:
            resp = self._http.post(
                self._s.base_url.rstrip("/") + path,
                auth=(self._s.username, self._s.password),
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                verify=self._verify,
            )
        except requests.RequestException as exc:
            raise CmdUnavailable(f"{operation}: {type(exc).__name__}") from None
        if resp.status_code >= 500:
            raise CmdUnavailable(f"{operation}: HTTP {resp.status_code}")
        if resp.status_code in (401, 403):
            raise CmdAuthError(f"{operation}: HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise CmdBadResponse(f"{operation}: HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            raise CmdBadResponse(f"{operation}: response is not JSON") from None
        if not isinstance(body, dict):
            raise CmdBadResponse(f"{operation}: response is not a JSON object")
        return body


def _field(body: dict[str, Any], name: str) -> str:
    """A response field by name, whatever its casing (``Status`` / ``status``)."""
    wanted = name.lower()
    for key, value in body.items():
        if key.lower() == wanted:
            return "" if value is None else str(value)
    return ""
