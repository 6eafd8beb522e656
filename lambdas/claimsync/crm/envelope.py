"""What the CRM API answers: a status, the JSON envelope, headers, and the lines worth logging.

Every body is an envelope: ``{"success": true, "data", "timestamp"}`` or ``{"success": false,
"error", "error_code", "timestamp"}`` (docs/crm-api.md). ``Answer`` is that, as plain values; the
edge (``handlers._crm_edge``) turns it into an API Gateway proxy response and writes its ``notes``
to the log. Notes name routes, types and codes, never a value a caller sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal


@dataclass(frozen=True)
class Note:
    """One log line: a fixed message and fields that hold no request value."""

    level: Literal["info", "warning", "error"]
    message: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class Answer:
    status: int
    body: Mapping[str, Any]  # the envelope
    headers: Mapping[str, str] | None = None
    notes: tuple[Note, ...] = ()


def timestamp() -> str:
    """Now, as the envelope's ``timestamp``: ISO 8601 UTC with milliseconds (``...T09:30:00.123Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def success(data: Any) -> dict[str, Any]:
    return {"success": True, "data": data, "timestamp": timestamp()}


def failure(code: str, message: str) -> dict[str, Any]:
    return {"success": False, "error": message, "error_code": code, "timestamp": timestamp()}


def ok(data: Any, status: int = 200) -> Answer:
    return Answer(status, success(data))
