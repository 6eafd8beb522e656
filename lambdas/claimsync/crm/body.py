"""Request bodies: size limit, presence, media type, JSON, text. Plain bytes in, a parsed value out.

Text is checked once, here, where it enters: a body is accepted only when it is I-JSON (RFC 7493):
UTF-8, no ``NaN``/``Infinity``, and no string (value or key) holding an unpaired UTF-16 surrogate
(``"\\ud800"`` is valid JSON syntax but names no character; Salesforce and every UTF-8 encoder
refuse it; ``claimsync.text`` is the one rule). Nothing after this module ever sees such a string.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from claimsync import text
from claimsync.crm.errors import (
    InvalidJson,
    MissingParameters,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

JSON_MEDIA_TYPE = "application/json"
MAX_DEPTH = 16  # a record is 1 level, a batch 2; nothing the API accepts comes near this
_UTF8 = frozenset({"utf-8", "utf8"})


def parse_json_body(raw: bytes | None, *, max_bytes: int, content_types: Sequence[str] | None = None) -> Any:
    """The JSON value of a request body.

    ``content_types`` are the request's ``Content-Type`` header values (``None``: not checked).
    Refusals, in this order: ``PayloadTooLarge``, ``MissingParameters`` (no or blank body),
    ``UnsupportedMediaType`` (not exactly one ``application/json``, optionally ``charset=utf-8``),
    ``InvalidJson`` (not UTF-8, not JSON, not I-JSON), ``ValidationFailed`` (nested too deep).
    """
    if raw is not None and len(raw) > max_bytes:
        raise PayloadTooLarge(f"the request body is larger than {max_bytes} bytes")
    if raw is None or not raw.strip():
        raise MissingParameters("a JSON request body is required")
    if content_types is not None:
        require_json_media_type(content_types)
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidJson("the request body is not valid UTF-8") from None
    try:
        value = json.loads(decoded, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise InvalidJson("the request body is not valid JSON") from None
    _check_text_and_depth(value)
    return value


def require_json_media_type(content_types: Sequence[str]) -> None:
    """``UnsupportedMediaType`` unless the request declares exactly one JSON media type in UTF-8."""
    if len(content_types) != 1:
        raise UnsupportedMediaType(
            "the request body must be sent with one Content-Type: application/json"
            if not content_types
            else "send a single Content-Type header: application/json"
        )
    media_type, _, parameters = content_types[0].partition(";")
    if media_type.strip().lower() != JSON_MEDIA_TYPE:
        raise UnsupportedMediaType("the request body must be JSON sent as Content-Type: application/json")
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in _UTF8:
            raise UnsupportedMediaType("JSON must be UTF-8: Content-Type: application/json; charset=utf-8")


def _check_text_and_depth(value: Any) -> None:
    """Walk the parsed value (iteratively: no recursion limit to hit) for unpaired surrogates in
    strings and keys, and for nesting deeper than ``MAX_DEPTH``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ValidationFailed(f"the request body is nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _check_text(value: str) -> None:
    if not text.is_valid(value):  # the project's one rule for text that is not Unicode
        raise InvalidJson(
            "the request body holds a string with an unpaired UTF-16 surrogate (such as \\ud800):"
            " that is no character; send text as UTF-8 or as escaped surrogate pairs"
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python accepts them, JSON does not


def require_object(value: Any, what: str = "the request body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationFailed(f"{what} must be a JSON object")
    return value
