"""Request bodies: size limit, presence, JSON. Plain bytes in, a parsed value out."""

from __future__ import annotations

import json
from typing import Any

from claimsync.crm.errors import InvalidJson, MissingParameters, PayloadTooLarge, ValidationFailed


def parse_json_body(raw: bytes | None, *, max_bytes: int) -> Any:
    """The JSON value of a request body; ``PayloadTooLarge`` / ``MissingParameters`` / ``InvalidJson``."""
    if raw is not None and len(raw) > max_bytes:
        raise PayloadTooLarge(f"the request body is larger than {max_bytes} bytes")
    if raw is None or not raw.strip():
        raise MissingParameters("a JSON request body is required")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidJson("the request body is not valid UTF-8") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise InvalidJson("the request body is not valid JSON") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python accepts them, JSON does not


def require_object(value: Any, what: str = "the request body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationFailed(f"{what} must be a JSON object")
    return value
