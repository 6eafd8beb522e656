"""One writable field of a CRM object and the rule its values must meet (``FieldRule``).

A rule has a kind (``text``, ``email``, ``date``, ``number``, ``integer``, ``choice``,
``reference``) and the few parameters that kind reads. Each kind is checked by one small function
of ``_CHECKS``; the OpenAPI schemas (``claimsync.crm.schemas``) read the same rules and patterns,
so the document and the checks cannot drift. Problems are worded without the value, so they are
safe to return to the caller.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from claimsync.crm.errors import InvalidRecordId
from claimsync.crm.ids import normalize_id

Kind = Literal["text", "email", "date", "number", "integer", "reference", "choice"]

# Deliberately simple: one @, no spaces, a dot in the domain. Salesforce checks further.
EMAIL_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
_EMAIL = re.compile(EMAIL_PATTERN)
_DATE = re.compile(DATE_PATTERN)


@dataclass(frozen=True)
class FieldRule:
    name: str
    kind: Kind
    max_length: int | None = None  # text, email
    choices: tuple[str, ...] = ()  # choice
    minimum: float | None = None  # number, integer
    maximum: float | None = None
    reference_prefix: str = ""  # reference: key prefix of the target object
    description: str = ""

    def check(self, value: Any) -> str | None:
        """``None`` when ``value`` (not null) is acceptable, else what is wrong (without the value)."""
        if self.kind in _NUMERIC:
            return _check_number(self, value)
        if not isinstance(value, str):
            return "must be a string"
        return _CHECKS[self.kind](self, value)


def text_field(name: str, length: int, description: str = "") -> FieldRule:
    """A text field of at most ``length`` characters (Salesforce's Text(length))."""
    return FieldRule(name, "text", max_length=length, description=description)


# -- one check per kind (strings; numbers below) -------------------------------------------------------


def _check_text(rule: FieldRule, value: str) -> str | None:
    if rule.max_length is not None and len(value) > rule.max_length:
        return f"must be at most {rule.max_length} characters"
    return None


def _check_email(rule: FieldRule, value: str) -> str | None:
    too_long = _check_text(rule, value)
    if too_long is not None:
        return too_long
    return None if _EMAIL.match(value) else "must be an email address"


def _check_choice(rule: FieldRule, value: str) -> str | None:
    return None if value in rule.choices else f"must be one of {list(rule.choices)}"


def _check_date(rule: FieldRule, value: str) -> str | None:
    if _DATE.match(value):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return None
    return "must be a date YYYY-MM-DD"


def _check_reference(rule: FieldRule, value: str) -> str | None:
    try:
        normalize_id(value, rule.reference_prefix, what="the id")
    except InvalidRecordId as exc:
        return str(exc).removeprefix("the id ")
    return None


_CHECKS: dict[str, Callable[[FieldRule, str], str | None]] = {
    "text": _check_text,
    "email": _check_email,
    "choice": _check_choice,
    "date": _check_date,
    "reference": _check_reference,
}
_NUMERIC = frozenset({"number", "integer"})


def _check_number(rule: FieldRule, value: Any) -> str | None:
    """``number`` and ``integer``: a JSON number (not a boolean), finite, whole for ``integer``,
    within the declared bounds."""
    whole = rule.kind == "integer"
    if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
        return "must be a whole number" if whole else "must be a number"
    if isinstance(value, float) and not math.isfinite(value):  # math.isfinite(10**4000) overflows
        return "must be a finite number"
    if rule.minimum is not None and value < rule.minimum:
        return f"must be at least {_num(rule.minimum)}"
    if rule.maximum is not None and value > rule.maximum:
        return f"must be at most {_num(rule.maximum)}"
    return None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
