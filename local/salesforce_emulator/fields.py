"""Per-type value handling: JSON (REST) and CSV (Bulk) input to stored values, stored values to API JSON.

Stored values (SQLite): text types and references as TEXT (references as 18-character ids), boolean
as 0/1, int as INTEGER, double/currency/percent as REAL, date as ``YYYY-MM-DD`` text and datetime as
``YYYY-MM-DDTHH:MM:SS.sssZ``-style text in the API's canonical ``+0000`` form. Because every stored
value is already in API form (bar booleans), turning a row into a record is cheap.

Error messages imitate the real ones, and like the real ones some echo the offending value
(``data value too large: <value>``). That is realistic; callers must not log them (PHI).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable
from typing import Any

from local.salesforce_emulator import ids
from local.salesforce_emulator.schema import FieldDef

NULL_MARKER = "#N/A"  # Bulk CSV: set the field to null
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_UTC_MILLIS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(?:Z|\+00:?00)\Z")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


class FieldError(Exception):
    """A record-level error with a Salesforce status code (``REQUIRED_FIELD_MISSING`` ...)."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or []

    def as_rest(self) -> dict[str, Any]:
        return {"errorCode": self.code, "message": self.message, "fields": self.fields}

    def as_collection(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def as_bulk(self) -> str:
        if self.fields:
            return f"{self.code}:{self.message}:{','.join(self.fields)} --"
        return f"{self.code}:{self.message}:--"


def now_sf() -> str:
    """Current UTC time in the API's datetime format."""
    return format_datetime(dt.datetime.now(dt.UTC))


def format_datetime(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> str | None:
    """Canonical datetime text for an ISO-8601 date-time (or a bare date: midnight UTC); None if invalid.

    A value already in the canonical shape in UTC (``2024-07-12T13:52:11.886Z``, what clients send)
    only needs its date and time checked; any other goes through the full parse (cached, since an
    upload repeats its dates many times over).
    """
    if _UTC_MILLIS.match(text):
        try:
            dt.datetime.fromisoformat(text[:23])  # the calendar check: month 13, 30 February, hour 24
        except ValueError:
            return None
        return text[:23] + "+0000"
    return _parse_datetime(text)


@functools.lru_cache(maxsize=1 << 16)
def _parse_datetime(text: str) -> str | None:
    m = _DATETIME.match(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, frac, tz = m.groups()
    try:
        offset = dt.timedelta(0)
        if tz and tz != "Z":
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            offset = sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        micro = int((frac or "0").ljust(6, "0")[:6])
        value = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=dt.timezone(offset),
        )
    except ValueError:
        return None
    return format_datetime(value)


@functools.lru_cache(maxsize=1 << 16)
def parse_date(text: str) -> str | None:
    if not _DATE.match(text):
        return None
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return None
    return text


def _label(f: FieldDef) -> str:
    return f.label or f.name


def _too_long(f: FieldDef, value: str) -> FieldError:
    return FieldError(
        "STRING_TOO_LONG", f"{_label(f)}: data value too large: {value} (max length={f.length})", [f.name]
    )


def _range_error(f: FieldDef, value: object) -> FieldError:
    return FieldError(
        "NUMBER_OUTSIDE_VALID_RANGE",
        f"{_label(f)}: value outside of valid range on numeric field: {value}",
        [f.name],
    )


def _parser_error(kind: str, token: str, value: object) -> FieldError:
    return FieldError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {token} value {value} "
        "or request may be missing a required field",
    )


def _json_token(value: object) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "VALUE_STRING"


def check_number(f: FieldDef, number: float, shown: object) -> float | int:
    return number_check(f)(number, shown)


def number_check(f: FieldDef) -> Callable[[float, object], float | int]:
    """``check_number`` for one field, its scale and bound worked out once (a Bulk upload's hot path)."""
    scale = f.scale or 0
    bound = 10 ** ((f.precision or 18) - scale)
    integer = f.type == "int"

    def check(number: float, shown: object) -> float | int:
        rounded = round(number, scale)
        if not math.isfinite(rounded) or abs(rounded) >= bound:
            raise _range_error(f, shown)
        return int(rounded) if integer else float(rounded)

    return check


def check_text(f: FieldDef, value: str) -> str:
    """Length, e-mail and restricted-picklist checks shared by REST and Bulk."""
    if f.length is not None and len(value) > f.length:
        raise _too_long(f, value)
    if f.type == "email" and value and not _EMAIL.match(value):
        raise FieldError("INVALID_EMAIL_ADDRESS", f"{_label(f)}: invalid email address: {value}", [f.name])
    if f.type == "picklist" and f.restricted and value not in f.picklist_values:
        raise FieldError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{_label(f)}: bad value for restricted picklist field: {value}",
            [f.name],
        )
    return value


def check_reference_format(f: FieldDef, value: str, expected_prefix: str | None) -> str:
    try:
        canonical = ids.normalize(value)
    except ids.MalformedId:
        raise FieldError(
            "MALFORMED_ID", f"{_label(f)}: id value of incorrect type: {value}", [f.name]
        ) from None
    if expected_prefix and canonical[:3] != expected_prefix:
        raise FieldError(
            "FIELD_INTEGRITY_EXCEPTION", f"{_label(f)}: id value of incorrect type: {value}", [f.name]
        )
    return canonical


def from_json(f: FieldDef, value: Any, ref_prefix: str | None = None) -> Any:
    """A JSON value from a REST body as a stored value (``None`` stays ``None``)."""
    if value is None:
        if f.type == "boolean":
            return 0
        return None
    if isinstance(value, dict | list):
        kind = {"boolean": "boolean", "int": "int", "date": "date", "datetime": "datetime"}.get(
            f.type, "string"
        )
        if f.type in ("double", "currency", "percent"):
            kind = "double"
        raise _parser_error(kind, _json_token(value), "[" if isinstance(value, list) else "{")
    t = f.type
    if t == "boolean":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return int(value.lower() == "true")
        raise _parser_error("boolean", _json_token(value), value)
    if t in ("int", "double", "currency", "percent"):
        kind = "int" if t == "int" else "double"
        if isinstance(value, bool):
            raise _parser_error(kind, _json_token(value), value)
        if isinstance(value, int | float):
            return check_number(f, float(value), value)
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            return check_number(f, float(value), value)
        raise _parser_error(kind, _json_token(value), value)
    if t == "date":
        if isinstance(value, str) and (parsed := parse_date(value.strip())):
            return parsed
        raise _parser_error("date", _json_token(value), value)
    if t == "datetime":
        if isinstance(value, str) and (parsed := parse_datetime(value)):
            return parsed
        raise _parser_error("datetime", _json_token(value), value)
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if t == "reference":
        if text == "":
            return None
        return check_reference_format(f, text, ref_prefix)
    if text == "" and t != "textarea":
        return None
    return check_text(f, text)


def csv_converter(f: FieldDef, ref_prefix: str | None = None) -> Callable[[str], Any]:
    """A fast converter for a non-empty, non-``#N/A`` CSV cell of field ``f``."""
    label = _label(f)

    def wrong_type(value: str) -> FieldError:
        return FieldError(
            "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{label}: value not of required type: {value}", [f.name]
        )

    t = f.type
    if t == "boolean":

        def conv_bool(value: str) -> int:
            v = value.strip().lower()
            if v in ("true", "1", "yes", "y"):
                return 1
            if v in ("false", "0", "no", "n"):
                return 0
            raise wrong_type(value)

        return conv_bool
    if t in ("int", "double", "currency", "percent"):
        check = number_check(f)

        def conv_number(value: str) -> float | int:
            v = value.strip()
            if not _NUMBER.match(v):
                raise wrong_type(value)
            return check(float(v), value)

        return conv_number
    if t == "date":

        def conv_date(value: str) -> str:
            parsed = parse_date(value.strip())
            if parsed is None:
                raise wrong_type(value)
            return parsed

        return conv_date
    if t == "datetime":

        def conv_datetime(value: str) -> str:
            parsed = parse_datetime(value)
            if parsed is None:
                raise wrong_type(value)
            return parsed

        return conv_datetime
    if t == "reference":
        return lambda value: check_reference_format(f, value.strip(), ref_prefix)
    if t == "string" and f.length is not None and not f.restricted:
        limit = f.length

        def conv_string(value: str) -> str:
            if len(value) > limit:
                raise _too_long(f, value)
            return value

        return conv_string
    return lambda value: check_text(f, value)


def to_api(f: FieldDef, stored: Any) -> Any:
    if stored is None:
        return False if f.type == "boolean" else None
    if f.type == "boolean":
        return bool(stored)
    if f.type in ("double", "currency", "percent"):
        return float(stored)
    return stored
