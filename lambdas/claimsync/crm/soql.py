"""The SOQL guard of ``POST /query`` and its paging cursor.

SOQL is read-only by construction, but the API still runs only what it means to offer:

- one ``SELECT`` statement: no semicolons, no subqueries (a second ``SELECT``), no DML words
  (``INSERT UPDATE DELETE UPSERT MERGE UNDELETE``), no ``FOR VIEW | REFERENCE | UPDATE`` clause (they
  write view stamps or lock rows), no ``UPDATE TRACKING | VIEWSTAT``, no ``TYPEOF``;
- ``FROM`` one object of the configured allowlist, and relationship paths (``Account.Name``) only
  through relationships named like an allowed object (``Account``, or ``X__r`` for ``X__c``), so a
  path cannot reach Users or other objects outside the allowlist;
- a ``LIMIT`` of at most the configured maximum; one is added when the query has none.

The checks look at the query with its string literals blanked out, so a word inside a quoted value
never counts. Salesforce's own parser has the final word on everything else (``QUERY_ERROR`` with its
message).

Paging: Salesforce answers at most 2,000 records per call and a ``nextRecordsUrl``
(``/services/data/vXX.X/query/01g...-2000``). The API hands that out as an opaque ``next`` cursor and,
when a caller passes it back, accepts only something that decodes to exactly that shape, so a caller
can never make the API fetch an arbitrary URL.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from claimsync.crm.errors import QueryRejected

MAX_SOQL_LENGTH = 20_000  # Salesforce allows 100,000; a GET URL that long is not a good idea
FORBIDDEN_WORDS = frozenset({"INSERT", "UPDATE", "DELETE", "UPSERT", "MERGE", "UNDELETE", "TYPEOF", "FOR"})
_WORD = re.compile(r"(?<![\w])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,200}={0,2}")
_NEXT_URL = re.compile(r"/services/data/v\d{1,3}\.\d/query/01g[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?-\d{1,9}")


@dataclass(frozen=True)
class QueryPolicy:
    objects: tuple[str, ...] = ("Account", "Contact", "Opportunity")
    max_limit: int = 10_000

    def canonical_object(self, name: str) -> str | None:
        for allowed in self.objects:
            if allowed.lower() == name.lower():
                return allowed
        return None


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def guard_soql(soql: str, policy: QueryPolicy) -> str:
    """The query to send to Salesforce (with a ``LIMIT``), or ``QueryRejected`` saying why not."""
    text = soql.strip()
    if len(text) > MAX_SOQL_LENGTH:
        raise QueryRejected(f"the query is longer than {MAX_SOQL_LENGTH} characters")
    skeleton = _blank_literals(text)
    if ";" in skeleton:
        raise QueryRejected("only a single SELECT statement is allowed (no semicolons)")
    words = [_Word(m.group(), m.start(), m.end()) for m in _WORD.finditer(skeleton)]
    if not words or words[0].upper != "SELECT":
        raise QueryRejected("only SELECT queries are allowed")
    if sum(w.upper == "SELECT" for w in words) > 1:
        raise QueryRejected("subqueries are not supported: use one SELECT")
    forbidden = sorted({w.upper for w in words if w.upper in FORBIDDEN_WORDS})
    if forbidden:
        raise QueryRejected(f"the query may not use {forbidden}: it must be a plain read-only SELECT")

    from_at = [i for i, w in enumerate(words) if w.upper == "FROM"]
    if len(from_at) != 1 or from_at[0] + 1 >= len(words):
        raise QueryRejected("the query must select FROM exactly one object")
    target_word = words[from_at[0] + 1]
    target = target_word.text
    if skeleton[target_word.end :].lstrip().startswith(","):
        raise QueryRejected("the query must select FROM exactly one object")
    if "." in target or policy.canonical_object(target) is None:
        raise QueryRejected(f"querying {target} is not allowed; allowed objects: {list(policy.objects)}")
    for w in words:
        if "." in w.text:
            _check_path(w.text, policy)

    return _with_limit(text, skeleton, words, policy.max_limit)


def _check_path(path: str, policy: QueryPolicy) -> None:
    for relationship in path.split(".")[:-1]:
        target = relationship[:-3] + "__c" if relationship.lower().endswith("__r") else relationship
        if policy.canonical_object(target) is None:
            raise QueryRejected(
                f"the relationship {relationship} is not allowed; paths may only traverse to"
                f" {list(policy.objects)}"
            )


def _with_limit(text: str, skeleton: str, words: list[_Word], max_limit: int) -> str:
    limits = [i for i, w in enumerate(words) if w.upper == "LIMIT"]
    if len(limits) > 1:
        raise QueryRejected("the query may have one LIMIT")
    if limits:
        after = skeleton[words[limits[0]].end :].lstrip()
        digits = re.match(r"\d+(?![\w.])", after)
        if digits is None:
            raise QueryRejected("LIMIT must be a whole number")
        if int(digits.group()) > max_limit:
            raise QueryRejected(f"LIMIT may be at most {max_limit}")
        return text
    offsets = [w for w in words if w.upper == "OFFSET"]
    if offsets:  # LIMIT comes before OFFSET in SOQL
        at = offsets[0].start
        return f"{text[:at].rstrip()} LIMIT {max_limit} {text[at:]}"
    return f"{text} LIMIT {max_limit}"


def _blank_literals(text: str) -> str:
    """``text`` with the inside of every '...' literal replaced by spaces (positions kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "'":
            out.append(ch)
            i += 1
            continue
        j = i + 1
        while j < n and text[j] != "'":
            j += 2 if text[j] == "\\" else 1
        if j >= n:
            raise QueryRejected("the query has an unterminated string literal")
        out.append("'" + " " * (j - i - 1) + "'")
        i = j + 1
    return "".join(out)


# -- paging cursor -------------------------------------------------------------------------------


def encode_cursor(next_records_url: str) -> str:
    if not _NEXT_URL.fullmatch(next_records_url):
        raise ValueError("Salesforce returned a nextRecordsUrl of an unexpected shape")
    return base64.urlsafe_b64encode(next_records_url.encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(cursor: object) -> str:
    """The ``nextRecordsUrl`` a cursor stands for; ``QueryRejected`` for anything that is not one."""
    if not isinstance(cursor, str) or not _CURSOR.fullmatch(cursor):
        raise QueryRejected("next is not a cursor this API returned")
    try:
        bare = cursor.rstrip("=")
        url = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise QueryRejected("next is not a cursor this API returned") from None
    if not _NEXT_URL.fullmatch(url):
        raise QueryRejected("next is not a cursor this API returned")
    return url


def strip_attributes(records: Iterable[object]) -> list[object]:
    """Records without Salesforce's ``attributes`` (also in nested parent records)."""
    return [_strip(r) for r in records]


def _strip(value: object) -> object:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "attributes"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
