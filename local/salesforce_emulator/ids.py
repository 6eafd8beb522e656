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


_PAIRS = [a + b for a in _BASE62 for b in _BASE62]  # two base-62 digits at a time: make_id is hot
_CASE_BITS = str.maketrans({chr(c): "1" if chr(c).isupper() else "0" for c in range(128)})


def checksum(id15: str) -> str:
    bits = id15.translate(_CASE_BITS)  # "1" for each upper-case letter (ASCII), else "0"
    try:  # bit i of each chunk is character i: read the chunk's bits backwards
        return (
            _SUFFIX_ALPHABET[int(bits[4::-1], 2)]
            + _SUFFIX_ALPHABET[int(bits[9:4:-1], 2)]
            + _SUFFIX_ALPHABET[int(bits[14:9:-1], 2)]
        )
    except ValueError:  # a character beyond ASCII (left as it was by translate): counts as 0
        return _checksum_slow(id15)


def _checksum_slow(id15: str) -> str:
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
    pairs = []
    n = sequence
    for _ in range(5):
        n, r = divmod(n, 3844)
        pairs.append(_PAIRS[r])
    if n:
        raise OverflowError("id sequence exhausted")
    return to18(key_prefix + POD + "".join(reversed(pairs)))


def make_ids(key_prefix: str, first: int, count: int) -> list[str]:
    """``make_id`` for the ``count`` sequences from ``first``: the leading digits are made once per
    3,844 ids (the last two digits cycle through ``_PAIRS``), so a Bulk batch's ids cost little."""
    out: list[str] = []
    n, end = first, first + count
    while n < end:
        block, low = divmod(n, 3844)
        head = make_id(key_prefix, block * 3844)[:13]
        stop = min(end, (block + 1) * 3844)
        out.extend(to18(head + pair) for pair in _PAIRS[low : low + stop - n])
        n = stop
    return out


def looks_like_id(value: str) -> bool:
    return len(value) in (15, 18) and value[:15].isalnum() and value.isascii()
