"""Parsers for the values of a CollaborateMD report row (salesforce.md section 2).

Every converter takes the raw report string and returns either its Bulk API 2.0 CSV form or ``None``
for "no value" (empty after trimming), or raises :class:`InvalidValue` carrying a reason code. The
exception message is the code only: a row value never appears in a message (the data is PHI).

Accepted forms:

- money: ``1000``, ``1000.5``, ``-25.50``, ``$1,867.99``, ``-$5.00``, ``(25.00)`` / ``($25.00)``
  (negative), surrounding spaces. Thousands separators must group by three. Decimal arithmetic only,
  quantized to 2 places with ROUND_HALF_UP, and it must fit Currency(16,2), i.e. at most 14 integer
  digits. ``-0.00`` is normalised to ``0.00``. Anything else: ``INVALID_AMOUNT``.
- date: ``YYYY-MM-DD``, ``MM/DD/YYYY``, ``M/D/YYYY``, and ISO 8601 date-times with ``Z`` or an offset
  (``+HH:MM``, ``+HHMM``, ``+HH``), of which the UTC calendar date is taken. A date-time without an
  offset is ambiguous and rejected in a date field. Impossible dates, and years outside Salesforce's
  range 1700-4000, are ``INVALID_DATE``.
- datetime (a Salesforce DateTime field, output ``yyyy-MM-ddTHH:mm:ss.SSSZ`` in UTC): ISO 8601
  date-times with ``Z`` or an offset; a date-time without offset is taken as UTC; a plain date (any of
  the date forms) is UTC midnight. Sub-millisecond digits are truncated.
- text: trimmed (Unicode whitespace); longer than the field length (counted in characters, i.e.
  code points) is ``VALUE_TOO_LONG``, never truncated. Any Unicode is valid; a string that is not
  valid Unicode (a lone surrogate) is ``INVALID_TEXT``, since it cannot be encoded as UTF-8. A value
  that is exactly ``#N/A`` (the Bulk CSV null marker) is ``RESERVED_VALUE``: it cannot be carried.

Only ASCII digits are accepted in numbers and dates (``re.ASCII``): ``Decimal`` and ``int`` would
otherwise accept e.g. Arabic-Indic digits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Final

INVALID_AMOUNT: Final = "INVALID_AMOUNT"
INVALID_DATE: Final = "INVALID_DATE"
VALUE_TOO_LONG: Final = "VALUE_TOO_LONG"
# Not in salesforce.md: text that is not valid Unicode (lone surrogates, possible from JSON "\ud800"
# escapes) cannot be written as UTF-8 CSV at all, so it rejects the row instead of crashing the page.
INVALID_TEXT: Final = "INVALID_TEXT"
# Not in salesforce.md either: Bulk API 2.0 reads a CSV value of exactly ``#N/A`` as "set null", and
# no escape exists, so a text value that *is* ``#N/A`` would land as null while its content hash says
# "#N/A" — a silent loss never corrected. Such a row is rejected with its own reason instead.
RESERVED_VALUE: Final = "RESERVED_VALUE"
NULL_MARKER: Final = "#N/A"
"""The Bulk API 2.0 CSV null marker (``claimsync.bulk_csv`` writes it for "no value")."""

# Salesforce accepts dates from 1700-01-01 to 4000-12-31.
MIN_YEAR: Final = 1700
MAX_YEAR: Final = 4000
# Currency(16,2): 16 digits in total, 2 of them after the point.
MONEY_INTEGER_DIGITS: Final = 14

_CACHE_SIZE: Final = 1 << 16


class InvalidValue(ValueError):
    """A report value that cannot be accepted. ``code`` is the reject reason code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# ---------------------------------------------------------------------------------------------- money

_MONEY_NUMBER = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+"
_MONEY_RE: Final = re.compile(
    rf"""
    (?P<minus>-)?\$?(?P<num>{_MONEY_NUMBER})          # 1000 | -25.50 | $1,867.99 | -$5.00
    | \(\$?(?P<paren>{_MONEY_NUMBER})\)               # (25.00) | ($25.00): negative
    """,
    re.ASCII | re.VERBOSE,
)
_CENT: Final = Decimal("0.01")
_MONEY_LIMIT: Final = Decimal(10) ** MONEY_INTEGER_DIGITS
_ZERO: Final = Decimal("0.00")


def parse_money(raw: str) -> Decimal | None:
    """The amount as a Decimal with exactly 2 places, ``None`` when empty."""
    text = raw.strip()
    if not text:
        return None
    match = _MONEY_RE.fullmatch(text)
    if match is None:
        raise InvalidValue(INVALID_AMOUNT)
    paren = match.group("paren")
    number = (paren if paren is not None else match.group("num")).replace(",", "")
    try:
        amount = Decimal(number).quantize(_CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # pragma: no cover - the regex admits only plain decimals
        raise InvalidValue(INVALID_AMOUNT) from None
    if amount >= _MONEY_LIMIT:
        raise InvalidValue(INVALID_AMOUNT)
    if amount == 0:
        return _ZERO
    return -amount if (paren is not None or match.group("minus")) else amount


def format_money(amount: Decimal) -> str:
    """Bulk CSV form: plain notation, 2 decimals (``1234.50``)."""
    return f"{amount:.2f}"


# Already canonical (no sign, no leading zero, at most 14 integer digits): only ".00" may be missing.
_CANONICAL_MONEY_RE: Final = re.compile(r"(?:0|[1-9][0-9]{0,13})(\.[0-9]{2})?", re.ASCII)


# No sign, at most 2 decimals, an optional $ and thousands commas (at most 12 integer digits):
# "$1,867.99", "12.5". The Bulk form only moves its digits, so the Decimal is not needed either.
_PLAIN_MONEY_RE: Final = re.compile(
    r"\$?(0|[1-9][0-9]{0,2}(?:,[0-9]{3}){1,3}|[1-9][0-9]{0,13})(?:\.([0-9]{1,2}))?", re.ASCII
)


def money_csv(raw: str) -> str | None:
    text = raw.strip()
    match = _CANONICAL_MONEY_RE.fullmatch(text)
    if match is not None:  # fast path for the usual 1000 / 1234.50
        return text if match.group(1) else text + ".00"
    match = _PLAIN_MONEY_RE.fullmatch(text)
    if match is not None:
        whole, cents = match.groups()
        return f"{whole.replace(',', '')}.{(cents or '').ljust(2, '0')}"
    amount = parse_money(text)
    return None if amount is None else format_money(amount)


# ---------------------------------------------------------------------------------------------- dates

_ISO_DATE_RE: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_US_DATE_RE: Final = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})", re.ASCII)
_ISO_DATETIME_RE: Final = re.compile(
    r"""
    ([0-9]{4})-([0-9]{2})-([0-9]{2})
    [Tt\ ]
    ([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?
    (?P<zone>[Zz]|(?P<sign>[+-])(?P<oh>[0-9]{2})(?::?(?P<om>[0-9]{2}))?)?
    """,
    re.ASCII | re.VERBOSE,
)


def _make_date(year: str, month: str, day: str) -> date:
    y = int(year)
    if not MIN_YEAR <= y <= MAX_YEAR:
        raise InvalidValue(INVALID_DATE)
    try:
        return date(y, int(month), int(day))
    except ValueError:
        raise InvalidValue(INVALID_DATE) from None


def _parse_plain_date(text: str) -> date | None:
    match = _ISO_DATE_RE.fullmatch(text)
    if match is not None:
        return _make_date(*match.groups())
    match = _US_DATE_RE.fullmatch(text)
    if match is not None:
        month, day, year = match.groups()
        return _make_date(year, month, day)
    return None


def _parse_iso_datetime(text: str) -> tuple[datetime, bool] | None:
    """(UTC datetime, had an explicit zone) or None when the text is not an ISO date-time."""
    match = _ISO_DATETIME_RE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()[:7]
    local_date = _make_date(year, month, day)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(
            local_date.year, local_date.month, local_date.day, int(hour), int(minute), int(second or 0), micro
        )
    except ValueError:
        raise InvalidValue(INVALID_DATE) from None
    zone = match.group("zone")
    if zone is None:
        return moment.replace(tzinfo=UTC), False
    if zone not in ("Z", "z"):
        hours, minutes = int(match.group("oh")), int(match.group("om") or 0)
        if hours > 23 or minutes > 59:
            raise InvalidValue(INVALID_DATE)
        offset = timedelta(hours=hours, minutes=minutes)
        moment = moment.replace(tzinfo=timezone(-offset if match.group("sign") == "-" else offset))
    else:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    if not MIN_YEAR <= utc.year <= MAX_YEAR:  # pragma: no cover - only at the range edges
        raise InvalidValue(INVALID_DATE)
    return utc, True


def parse_date(raw: str) -> date | None:
    """A calendar date, ``None`` when empty (see the module doc for the accepted forms)."""
    text = raw.strip()
    if not text:
        return None
    plain = _parse_plain_date(text)
    if plain is not None:
        return plain
    parsed = _parse_iso_datetime(text)
    if parsed is None or not parsed[1]:
        raise InvalidValue(INVALID_DATE)
    return parsed[0].date()


def parse_datetime(raw: str) -> datetime | None:
    """An aware UTC datetime, ``None`` when empty (naive date-times and plain dates are UTC)."""
    text = raw.strip()
    if not text:
        return None
    plain = _parse_plain_date(text)
    if plain is not None:
        return datetime(plain.year, plain.month, plain.day, tzinfo=UTC)
    parsed = _parse_iso_datetime(text)
    if parsed is None:
        raise InvalidValue(INVALID_DATE)
    return parsed[0]


def format_date(value: date) -> str:
    """Bulk CSV form ``yyyy-MM-dd``."""
    return value.isoformat()


def format_datetime(value: datetime) -> str:
    """Bulk CSV form ``yyyy-MM-ddTHH:mm:ss.SSSZ`` (UTC, milliseconds truncated)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


@lru_cache(maxsize=_CACHE_SIZE)
def date_csv(raw: str) -> str | None:
    value = parse_date(raw)
    return None if value is None else format_date(value)


# Already UTC with Z and whole milliseconds (or none): the output is the input once it is valid.
_CANONICAL_DATETIME_RE: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{3})?Z", re.ASCII
)


def datetime_csv(raw: str) -> str | None:
    text = raw.strip()
    match = _CANONICAL_DATETIME_RE.fullmatch(text)
    if match is not None and MIN_YEAR <= int(text[:4]) <= MAX_YEAR:  # fast path: 2024-01-01T00:00:00.000Z
        try:
            datetime.fromisoformat(text[:19])  # only to reject impossible dates and times
        except ValueError:
            raise InvalidValue(INVALID_DATE) from None
        return text if match.group(1) else text[:19] + ".000Z"
    value = parse_datetime(text)
    return None if value is None else format_datetime(value)


def has_date_csv(raw: str) -> str:
    """Checkbox: ``true`` when the value is a date, ``false`` when empty; an invalid date rejects."""
    return "false" if date_csv(raw) is None else "true"


# ----------------------------------------------------------------------------------------------- text


def _check_unicode(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidValue(INVALID_TEXT) from None


def clean_text(raw: str, length: int) -> str | None:
    """Trimmed text, ``None`` when empty; longer than ``length`` characters is VALUE_TOO_LONG."""
    text = raw.strip()
    if not text:
        return None
    if len(text) > length:
        raise InvalidValue(VALUE_TOO_LONG)
    if text == NULL_MARKER:
        raise InvalidValue(RESERVED_VALUE)
    _check_unicode(text)
    return text


def split_patient(raw: str) -> tuple[str | None, str | None]:
    """``LAST, FIRST (id)`` → (``LAST, FIRST``, ``id``); without a trailing ``(...)`` → (text, None).

    Only a final parenthesised group counts (``SMITH (JR), JOHN (42)`` → ``SMITH (JR), JOHN``,
    ``42``); empty parts are ``None``. Lengths are checked by the caller.
    """
    text = raw.strip()
    if text.endswith(")"):
        start = text.rfind("(")
        inner = text[start + 1 : -1]
        if start >= 0 and ")" not in inner:
            return (text[:start].strip() or None, inner.strip() or None)
    return (text or None, None)


# Converters for the text kinds, bound to a field length (one call per value: no partial kwargs).


def text_converter(length: int) -> Callable[[str], str | None]:
    def convert(raw: str) -> str | None:  # clean_text, inlined: this runs ~10 times per row
        text = raw.strip()
        if not text:
            return None
        if len(text) > length:
            raise InvalidValue(VALUE_TOO_LONG)
        if text == NULL_MARKER:
            raise InvalidValue(RESERVED_VALUE)
        if not text.isascii():
            _check_unicode(text)
        return text

    return convert


def patient_name_converter(length: int) -> Callable[[str], str | None]:
    def convert(raw: str) -> str | None:
        name = split_patient(raw)[0]
        return None if name is None else clean_text(name, length)

    return convert


def patient_id_converter(length: int) -> Callable[[str], str | None]:
    def convert(raw: str) -> str | None:
        patient_id = split_patient(raw)[1]
        return None if patient_id is None else clean_text(patient_id, length)

    return convert
