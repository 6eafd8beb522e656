"""Salesforce record ids: 15-character case-sensitive ids and their 18-character case-safe form.

The 18-character form appends three characters, one per 5-character chunk of the 15-character id:
bit i of the chunk's number is set when character i is an upper-case letter, and the number indexes
``ABCDEFGHIJKLMNOPQRSTUVWXYZ012345``. The emulator insists on a correct suffix.
"""

from __future__ import annotations

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID15 = re.compile(r"[0-9A-Za-z]{15}")
_SUFFIX = re.compile(r"[A-Z0-5]{3}")
POD = "5g"  # characters 4-5 of a real id encode the instance; any fixed value is fine here


class MalformedId(ValueError):
    """Not a well-formed 15/18-character Salesforce id."""


def checksum(id15: str) -> str:
    suffix = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        suffix.append(_SUFFIX_ALPHABET[bits])
    return "".join(suffix)


def to18(id15: str) -> str:
    return id15 + checksum(id15)


def normalize(value: str) -> str:
    """The canonical 18-character id for a 15- or 18-character id; ``MalformedId`` otherwise.

    The suffix of an 18-character id must be the checksum of its first 15 characters as given.
    """
    if len(value) == 15:
        if not _ID15.fullmatch(value):
            raise MalformedId(value)
        return to18(value)
    if len(value) == 18:
        head, suffix = value[:15], value[15:]
        if not _ID15.fullmatch(head) or not _SUFFIX.fullmatch(suffix) or checksum(head) != suffix:
            raise MalformedId(value)
        return value
    raise MalformedId(value)


def make_id(key_prefix: str, sequence: int) -> str:
    """The 18-character id of the ``sequence``-th record of an object (deterministic, never reused)."""
    digits = []
    n = sequence
    for _ in range(10):
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    if n:
        raise OverflowError("id sequence exhausted")
    return to18(key_prefix + POD + "".join(reversed(digits)))


def looks_like_id(value: str) -> bool:
    return len(value) in (15, 18) and value[:15].isalnum() and value.isascii()
