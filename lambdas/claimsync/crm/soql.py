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
(``/services/data/vXX.X/query/01g...-2000``): a query locator of the integration user, good for any
query that user ran, including ones this API would refuse. So the API never hands out the locator
as such: ``CursorCodec`` wraps it, with the object the guarded query read and an expiry, in a cursor
authenticated with HMAC-SHA256 under a key only the API holds. A cursor that was not issued by the
API, was changed in any byte (another locator, another offset, another object), has expired, or
names an object no longer allowed is refused before Salesforce is called. And every page, first or
following, is checked record by record (``check_record_types``): a record of an object outside the
allowlist refuses the page (defence in depth; neither check relies on the other).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from claimsync.crm.errors import ForeignRecords, QueryRejected

MAX_SOQL_LENGTH = 20_000  # Salesforce allows 100,000; a GET URL that long is not a good idea
FORBIDDEN_WORDS = frozenset({"INSERT", "UPDATE", "DELETE", "UPSERT", "MERGE", "UNDELETE", "TYPEOF", "FOR"})
_WORD = re.compile(r"(?<![\w])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
AGGREGATE_RESULT = "AggregateResult"  # the record type of GROUP BY / COUNT(field) rows (first page only)
_NEXT_URL = re.compile(r"/services/data/v\d{1,3}\.\d/query/01g[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?-\d{1,9}")


@dataclass(frozen=True)
class QueryPolicy:
    """What ``POST /query`` may read: by default the objects the API serves (``CrmSettings.query_policy``)."""

    objects: tuple[str, ...]
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


@dataclass(frozen=True)
class GuardedQuery:
    soql: str  # what to send: the caller's query with a LIMIT
    sobject: str  # the allowed object it reads FROM (canonical spelling)


def guard_soql(soql: str, policy: QueryPolicy) -> GuardedQuery:
    """The query to send to Salesforce (with a ``LIMIT``), or ``QueryRejected`` saying why not."""
    text = soql.strip()
    if len(text) > MAX_SOQL_LENGTH:
        raise QueryRejected(f"the query is longer than {MAX_SOQL_LENGTH} characters")
    skeleton = _blank_literals(text)
    if ";" in skeleton:
        raise QueryRejected("only a single SELECT statement is allowed (no semicolons)")
    words = [_Word(m.group(), m.start(), m.end()) for m in _WORD.finditer(skeleton)]
    _check_one_plain_select(words)
    sobject = _target(skeleton, words, policy)
    for w in words:
        if "." in w.text:
            _check_path(w.text, policy)
    return GuardedQuery(_with_limit(text, skeleton, words, policy.max_limit), sobject)


def _check_one_plain_select(words: list[_Word]) -> None:
    """One ``SELECT``, without subqueries, DML words, ``FOR ...`` clauses or ``TYPEOF``."""
    if not words or words[0].upper != "SELECT":
        raise QueryRejected("only SELECT queries are allowed")
    if sum(w.upper == "SELECT" for w in words) > 1:
        raise QueryRejected("subqueries are not supported: use one SELECT")
    forbidden = sorted({w.upper for w in words if w.upper in FORBIDDEN_WORDS})
    if forbidden:
        raise QueryRejected(f"the query may not use {forbidden}: it must be a plain read-only SELECT")


def _target(skeleton: str, words: list[_Word], policy: QueryPolicy) -> str:
    """The one allowed object the query reads ``FROM`` (its canonical spelling)."""
    from_at = [i for i, w in enumerate(words) if w.upper == "FROM"]
    if len(from_at) != 1 or from_at[0] + 1 >= len(words):
        raise QueryRejected("the query must select FROM exactly one object")
    target_word = words[from_at[0] + 1]
    target = target_word.text
    if skeleton[target_word.end :].lstrip().startswith(","):
        raise QueryRejected("the query must select FROM exactly one object")
    sobject = None if "." in target else policy.canonical_object(target)
    if sobject is None:
        raise QueryRejected(f"querying {target} is not allowed; allowed objects: {list(policy.objects)}")
    return sobject


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

CURSOR_VERSION = "c1"
_CURSOR_LABEL = b"claimsync-crm-query-cursor/1\n"  # domain separation: this key signs nothing else
_CURSOR = re.compile(r"c1\.([A-Za-z0-9_-]{1,400})\.([A-Za-z0-9_-]{43})")
MIN_CURSOR_KEY_BYTES = 32
_NOT_ISSUED = "next is not a cursor this API issued"


@dataclass(frozen=True)
class Locator:
    sobject: str  # the allowed object the query that started the paging read FROM
    next_records_url: str


@dataclass(frozen=True)
class CursorCodec:
    """Issues and opens ``next`` cursors: ``c1.<payload>.<tag>``, base64url, where the payload is
    ``{"o": object, "l": locator path, "x": expiry (Unix seconds)}`` and the tag is
    HMAC-SHA256(key, label + payload). Opaque to callers; nothing in it is secret, all of it is
    authenticated."""

    key: bytes = field(repr=False)
    ttl_s: int = 900
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if len(self.key) < MIN_CURSOR_KEY_BYTES:
            raise ValueError(f"the cursor key must be at least {MIN_CURSOR_KEY_BYTES} bytes")

    def issue(self, sobject: str, next_records_url: str) -> str:
        if not _NEXT_URL.fullmatch(next_records_url):
            raise ValueError("Salesforce returned a nextRecordsUrl of an unexpected shape")
        payload = json.dumps(
            {"o": sobject, "l": next_records_url, "x": int(self.clock()) + self.ttl_s},
            separators=(",", ":"),
            sort_keys=True,
        ).encode("ascii")
        return f"{CURSOR_VERSION}.{_b64(payload)}.{_b64(self._tag(payload))}"

    def open(self, cursor: object, policy: QueryPolicy) -> Locator:
        """The locator a cursor stands for; ``QueryRejected`` for anything this API did not issue,
        changed, expired, or for an object the policy no longer allows."""
        found = _CURSOR.fullmatch(cursor) if isinstance(cursor, str) else None
        if found is None:
            raise QueryRejected(_NOT_ISSUED)
        payload, tag = _unb64(found.group(1)), _unb64(found.group(2))
        if payload is None or tag is None or not hmac.compare_digest(tag, self._tag(payload)):
            raise QueryRejected(_NOT_ISSUED)
        # Authentic from here on: the API wrote this payload itself.
        try:
            fields = json.loads(payload)
            sobject, url, expires = str(fields["o"]), str(fields["l"]), int(fields["x"])
        except (ValueError, KeyError, TypeError):
            raise QueryRejected(_NOT_ISSUED) from None
        if expires <= self.clock():
            raise QueryRejected("next has expired: run the query again")
        if policy.canonical_object(sobject) != sobject or not _NEXT_URL.fullmatch(url):
            raise QueryRejected(f"querying {sobject} is not allowed; allowed objects: {list(policy.objects)}")
        return Locator(sobject, url)

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self.key, _CURSOR_LABEL + payload, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


# -- the records of a page ---------------------------------------------------------------------------


def check_record_types(
    records: Iterable[object], sobject: str, policy: QueryPolicy, *, first_page: bool
) -> None:
    """``ForeignRecords`` unless every top-level record is of ``sobject`` (or, on a first page, an
    ``AggregateResult`` of the guarded query) and every nested record (a parent through a
    relationship path) is of an allowed object. A top-level record without ``attributes.type``
    counts as foreign: Salesforce always sends it. Nested objects without ``attributes`` are
    compound values (an address), searched for records but not records themselves."""
    top = {sobject, AGGREGATE_RESULT} if first_page else {sobject}
    nested = set(policy.objects)
    for record in records:
        _check_type(record, top)
        stack = [v for k, v in record.items() if k != "attributes"] if isinstance(record, dict) else []
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                if "attributes" in value:
                    _check_type(value, nested)
                stack.extend(v for k, v in value.items() if k != "attributes")
            elif isinstance(value, list):
                stack.extend(value)


def _check_type(record: object, allowed: set[str]) -> None:
    attributes = record.get("attributes") if isinstance(record, dict) else None
    record_type = attributes.get("type") if isinstance(attributes, dict) else None
    if not isinstance(record_type, str) or record_type not in allowed:
        raise ForeignRecords(record_type if isinstance(record_type, str) else "(none)")


def strip_attributes(records: Iterable[object]) -> list[object]:
    """Records without Salesforce's ``attributes`` (also in nested parent records)."""
    return [_strip(r) for r in records]


def _strip(value: object) -> object:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "attributes"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
