"""Salesforce record ids: 15 case-sensitive characters, or 18 with a case-safe checksum suffix.

The suffix has one character per 5-character chunk of the 15-character id: bit ``i`` of the chunk's
number is set when character ``i`` is an upper-case letter, and the number indexes
``ABCDEFGHIJKLMNOPQRSTUVWXYZ012345``. The first three characters are the object's key prefix.
"""

from __future__ import annotations

import re

from claimsync.crm.errors import InvalidRecordId

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID15 = re.compile(r"[0-9A-Za-z]{15}")


def checksum(id15: str) -> str:
    """The three-character case-safe suffix of a 15-character id."""
    suffix = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        suffix.append(_SUFFIX_ALPHABET[bits])
    return "".join(suffix)


def normalize_id(value: object, key_prefix: str, *, what: str = "record id") -> str:
    """The 18-character form of a 15- or 18-character id of the object with ``key_prefix``.

    Raises ``InvalidRecordId`` naming the problem (length, characters, checksum, object) but not
    the value.
    """
    if not isinstance(value, str):
        raise InvalidRecordId(f"{what} must be a string")
    if len(value) not in (15, 18):
        raise InvalidRecordId(f"{what} must be 15 or 18 characters long")
    head = value[:15]
    if not _ID15.fullmatch(head) or (len(value) == 18 and not value[15:].isalnum()):
        raise InvalidRecordId(f"{what} may contain only letters and digits")
    if len(value) == 18 and value[15:] != checksum(head):
        raise InvalidRecordId(f"{what} has an invalid checksum (its last three characters)")
    if head[:3] != key_prefix:
        raise InvalidRecordId(f"{what} is not the id of this kind of record (expected prefix {key_prefix})")
    return head + checksum(head)
