"""An error of an execution history as one line an operator reads: ``Salesforce 503 on the Bulk upload``.

Only error names and the messages of claimsync's exceptions are read; those name codes and
operations, never values. ``claimsync sync`` (``claimsync.operator.execution.run_outcome``) and the
run page read a history's causes here too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

# Salesforce gateway operations (``SalesforceError.operation``) as an operator reads them.
SALESFORCE_OPERATIONS: Final[Mapping[str, str]] = {
    "login": "the login",
    "query": "a query",
    "query_more": "a query",
    "collections_upsert": "the Collections upsert",
    "collections_create": "the Collections create",
    "bulk_create_job": "the Bulk job creation",
    "bulk_upload": "the Bulk upload",
    "bulk_close": "the Bulk job close",
    "bulk_abort": "the Bulk job abort",
    "bulk_get_job": "the Bulk job status check",
    "bulk_results": "the Bulk results download",
    "limits": "the limits check",
}
ERROR_TEXTS: Final[Mapping[str, str]] = {
    "CmdUnavailable": "CollaborateMD unavailable",
    "CmdReportBusy": "CollaborateMD is still running an earlier report",
    "CmdAuthError": "CollaborateMD refused the credentials",
    "CmdReportFailed": "the CollaborateMD report failed",
    "CmdReportRejected": "CollaborateMD cannot run the report as configured",
    "CmdBadResponse": "CollaborateMD answered outside its contract",
    "ReportDeadlineExceeded": "the CollaborateMD report was still running at the report deadline"
    " (report_deadline_seconds)",
    "UploadDeadlineExceeded": "Salesforce had not finished the Bulk job(s) at the upload deadline"
    " (upload_deadline_seconds)",
    "ReportFormatError": "the CollaborateMD report cannot be read",
    "ReportDownloadCorrupt": "the CollaborateMD report ZIP arrived damaged",
    "SalesforceUnavailable": "Salesforce unavailable",
    "SalesforceLimitExceeded": "Salesforce API limit reached",
    "SalesforceLockError": "Salesforce row lock",
    "SalesforceAuthError": "Salesforce refused the login",
    "BulkJobRejected": "Salesforce rejected the Bulk job",
    "AccountingError": "the run's accounting does not add up (a bug: keep the run's files)",
    "InvalidInput": "the execution input was rejected",
    "States.Timeout": "a state timed out",
    "Sandbox.Timedout": "a Lambda function timed out",
}

# Errors whose text says all their message would (it only repeats it).
_SELF_EXPLAINED: Final = frozenset({"ReportDeadlineExceeded", "UploadDeadlineExceeded"})

# The message of a SalesforceError: ``CODE (operation[, HTTP status])``.
_SF_MESSAGE: Final = re.compile(r"^(?P<code>[A-Za-z_]+) \((?P<op>[a-z_]+)(?:, HTTP (?P<status>\d{3}))?\)$")
_MAX_MESSAGE: Final = 160


def error_text(error: str | None, cause: str | None) -> str:
    """An error of the history as one line an operator reads: ``Salesforce 503 on the Bulk upload``."""
    message = cause_message(cause)
    name = error or "error"
    salesforce = _salesforce_text(name, message)
    if salesforce is not None:
        return salesforce
    text = ERROR_TEXTS.get(name)
    if name in _SELF_EXPLAINED:
        return str(text)
    if text is None:
        return f"{name}: {message}" if message and message != name else name
    if message and message.lower() not in text.lower():
        return f"{text} ({message})"
    return text


def _salesforce_text(name: str, message: str | None) -> str | None:
    """A Salesforce error whose message has the gateway's shape, told with its operation."""
    if not name.startswith("Salesforce") or not message:
        return None
    match = _SF_MESSAGE.match(message)
    if match is None:
        return None
    what = SALESFORCE_OPERATIONS.get(match["op"], match["op"].replace("_", " "))
    if name == "SalesforceUnavailable":
        return f"Salesforce {match['status'] or match['code']} on {what}"
    return f"{ERROR_TEXTS.get(name, name)} ({match['code']}) on {what}"


def cause_message(cause: str | None, limit: int | None = _MAX_MESSAGE) -> str | None:
    """The message of a history ``cause``: a Lambda error's ``errorMessage`` (no stack trace), first
    line only, shortened to ``limit`` characters."""
    if not cause:
        return None
    text = cause
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        text = str(parsed.get("errorMessage") or parsed.get("Cause") or "")
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if limit is None or len(first) <= limit else first[: limit - 1] + "…"
