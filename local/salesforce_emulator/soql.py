"""The emulator's SOQL engine: parse (lark, LALR) and type-check a query, then run it over rows.

``compile_query(text, schema)`` turns a query into a ``CompiledQuery`` or raises ``SoqlError`` with a
Salesforce error code (``MALFORMED_QUERY``, ``INVALID_FIELD``, ``INVALID_TYPE``) and a Salesforce-like
message. ``CompiledQuery.execute(fetch, api_version)`` reads the rows of the object (and of any parent
object a ``Rel__r.Field`` path names) through ``fetch`` and returns the records shaped like the REST
``/query`` resource returns them.

Supported: ``SELECT`` fields (with one level of parent relationship) or ``COUNT()``, ``FROM`` one
object, ``WHERE`` with ``= != <> < <= > >= LIKE IN NOT IN``, ``AND``/``OR``/``NOT`` and parentheses,
``ORDER BY`` (``ASC|DESC``, ``NULLS FIRST|LAST``), ``LIMIT``, ``OFFSET`` (at most 2,000). Anything else
is a ``MALFORMED_QUERY`` — the emulator never answers a query it does not fully understand.

Semantics follow Salesforce: text comparisons and ``LIKE`` are case-insensitive; ids compare on
their case-sensitive 15-character form; ``null`` is an ordinary value (two-valued logic: a null field
fails ``=``, ``<``, ``>``, ``LIKE`` and ``IN`` but satisfies ``!=`` and ``NOT IN``); a null boolean is
``false``; nulls sort first ascending and last descending unless ``NULLS FIRST|LAST`` says otherwise.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeAlias

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from local.salesforce_emulator.schema import NUMBER_TYPES, FieldDef, ObjectDef, Schema

__all__ = ["CompiledQuery", "QueryResult", "SoqlError", "compile_query"]

ErrorCode: TypeAlias = Literal["MALFORMED_QUERY", "INVALID_FIELD", "INVALID_TYPE"]
Row: TypeAlias = dict[str, Any]
Fetch: TypeAlias = Callable[[ObjectDef], Iterable[Row]]
_Getter: TypeAlias = Callable[[Row], Any]
_Pred: TypeAlias = Callable[[Row], bool]
_Kind: TypeAlias = Literal["text", "id", "number", "boolean", "date", "datetime"]

MAX_OFFSET = 2000
_EMULATOR = "by the local Salesforce emulator"


class SoqlError(Exception):
    """A query Salesforce would reject (or the emulator does not support): answered with HTTP 400."""

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code: ErrorCode = error_code
        self.message: str = message


def _malformed(message: str) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", message)


# --------------------------------------------------------------------------------------------- parser


@cache
def _parser() -> Lark:
    grammar = Path(__file__).with_name("soql.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", maybe_placeholders=True)


_UNSUPPORTED_CLAUSES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), what)
    for pattern, what in (
        (r"\(\s*select\b", "Subqueries (semi-joins, anti-joins, child relationship queries) are"),
        (r"\bgroup\s+by\b", "GROUP BY is"),
        (r"\bhaving\b", "HAVING is"),
        (r"\btypeof\b", "TYPEOF is"),
        (r"\bwith\b", "WITH (SECURITY_ENFORCED, DATA CATEGORY, ...) is"),
        (r"\busing\s+scope\b", "USING SCOPE is"),
        (r"\bfor\s+(?:update|view|reference)\b", "FOR UPDATE/VIEW/REFERENCE is"),
        (r"\ball\s+rows\b", "ALL ROWS is"),
        (r"\b(?:includes|excludes)\s*\(", "INCLUDES/EXCLUDES (multi-select picklists) is"),
        (r"(?<![\w'])\s*:\s*[a-z_]", "Bind variables are"),
        (
            r"\b(?!(?:in|and|or|not|where|select|from|count|like|by|limit|offset)\b)[a-z_]\w*\s*\(",
            "A function call in WHERE or ORDER BY is",
        ),
    )
)
_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'", re.DOTALL)


def _parse_error(text: str, exc: UnexpectedInput) -> SoqlError:
    """A parse failure as Salesforce would word it, naming an unsupported feature when there is one."""
    if isinstance(exc, UnexpectedToken) and exc.token.type in {"AND", "OR"}:
        return _malformed(f"unexpected token: '{exc.token}' (AND and OR cannot be mixed without parentheses)")
    stripped = _STRING_LITERAL.sub("''", text)
    for pattern, label in _UNSUPPORTED_CLAUSES:
        if pattern.search(stripped):
            return _malformed(f"{label} not supported {_EMULATOR}")
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        return _malformed("unexpected end of query")
    if isinstance(exc, UnexpectedToken):
        return _malformed(f"unexpected token: '{exc.token}'")
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        if text[pos] == "'":
            return _malformed(
                "unterminated string literal (strings are single-quoted; escape a quote as \\')"
            )
        return _malformed(f"unexpected token: '{text[pos:].split(None, 1)[0]}'")
    return _malformed(str(exc))  # pragma: no cover - lark raises only the three above


# ------------------------------------------------------------------------------------ compiled forms


@dataclass(frozen=True)
class _FieldRef:
    path: str  # canonical, e.g. "Name" or "Claim_Payor__r.Name"
    field: FieldDef
    lookup: FieldDef | None = None  # the lookup field on the queried object, for a parent field
    parent: ObjectDef | None = None

    @property
    def kind(self) -> _Kind:
        return _kind(self.field)


@dataclass(frozen=True)
class _Compare:
    ref: _FieldRef
    op: str  # "=", "!=", "<", "<=", ">", ">=", "like", "in", "not in"
    operand: Any  # normalised literal; a frozenset for IN, a compiled pattern for LIKE
    null_operand: bool = False  # "= null" / "!= null" / null inside IN (...)


@dataclass(frozen=True)
class _And:
    parts: tuple[_Cond, ...]


@dataclass(frozen=True)
class _Or:
    parts: tuple[_Cond, ...]


@dataclass(frozen=True)
class _Not:
    part: _Cond


_Cond: TypeAlias = _Compare | _And | _Or | _Not


@dataclass(frozen=True)
class _OrderItem:
    ref: _FieldRef
    descending: bool
    nulls_first: bool


@dataclass
class QueryResult:
    total_size: int
    records: list[dict[str, Any]]


@dataclass
class CompiledQuery:
    sobject: ObjectDef
    is_count: bool
    fields: tuple[_FieldRef, ...] = ()
    where: _Cond | None = None
    order_by: tuple[_OrderItem, ...] = ()
    limit: int | None = None
    offset: int = 0
    _lookups: dict[str, tuple[FieldDef, ObjectDef]] = field(default_factory=dict, repr=False)

    def execute(self, fetch: Fetch, api_version: str) -> QueryResult:
        by_object: dict[str, dict[str, Row]] = {}  # one fetch per parent object, however many lookups
        parents: dict[str, dict[str, Row]] = {}  # relationship name (lower case) -> Id -> parent row
        for key, (_lookup, parent) in self._lookups.items():
            if parent.name not in by_object:
                by_object[parent.name] = _index_by_id(fetch(parent))
            parents[key] = by_object[parent.name]
        getters: dict[str, _Getter] = {}

        def getter(ref: _FieldRef) -> _Getter:
            if ref.path not in getters:
                getters[ref.path] = _make_getter(ref, parents)
            return getters[ref.path]

        rows: Iterable[Row] = fetch(self.sobject)
        if self.where is not None:
            pred = _predicate(self.where, getter)
            matched = [row for row in rows if pred(row)]
        else:
            matched = list(rows)
        for item in reversed(self.order_by):
            matched.sort(key=_sort_key(item, getter(item.ref)), reverse=item.descending)
        end = None if self.limit is None else self.offset + self.limit
        matched = matched[self.offset : end]
        if self.is_count:
            return QueryResult(total_size=len(matched), records=[])
        version = api_version[1:] if api_version[:1] in {"v", "V"} else api_version
        shape = _shaper(self.sobject, self.fields, parents, version)
        records = [shape(row) for row in matched]
        return QueryResult(total_size=len(records), records=records)


# --------------------------------------------------------------------------------------------- compile


def compile_query(text: str, schema: Schema) -> CompiledQuery:
    """Parse and type-check ``text`` against ``schema``; raises ``SoqlError`` on any problem."""
    if not text or not text.strip():
        raise _malformed("the query is empty")
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise _parse_error(text, exc) from None
    return _Compiler(schema).compile(tree)


class _Compiler:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.lookups: dict[str, tuple[FieldDef, ObjectDef]] = {}
        self.sobject: ObjectDef | None = None

    def compile(self, tree: Tree[Token]) -> CompiledQuery:
        clauses = {child.data: child for child in tree.children if isinstance(child, Tree)}
        obj_name = str(clauses["from_clause"].children[1])
        obj = self.schema.object(obj_name)
        if obj is None:
            raise SoqlError(
                "INVALID_TYPE",
                f"sObject type '{obj_name}' is not supported. If you are attempting to use a custom object, "
                "be sure to append the '__c' after the entity name. Please reference your WSDL or the "
                "describe call for the appropriate names.",
            )
        self.sobject = obj
        is_count, fields = self._select(clauses["select_clause"])
        where = self._condition(_sub(clauses["where_clause"], 1)) if "where_clause" in clauses else None
        order_by = self._order_by(clauses["order_clause"]) if "order_clause" in clauses else ()
        limit = int(str(clauses["limit_clause"].children[1])) if "limit_clause" in clauses else None
        offset = int(str(clauses["offset_clause"].children[1])) if "offset_clause" in clauses else 0
        if offset > MAX_OFFSET:
            raise _malformed(f"Maximum SOQL offset allowed is {MAX_OFFSET} (got {offset})")
        if is_count and order_by:
            raise _malformed("ORDER BY cannot be used with COUNT() (aggregate queries are not supported)")
        return CompiledQuery(
            sobject=obj,
            is_count=is_count,
            fields=fields,
            where=where,
            order_by=order_by,
            limit=limit,
            offset=offset,
            _lookups=self.lookups,
        )

    # ----------------------------------------------------------------------------------------- SELECT

    def _select(self, clause: Tree[Token]) -> tuple[bool, tuple[_FieldRef, ...]]:
        items = [c for c in clause.children[1:] if isinstance(c, Tree)]
        calls = [c for c in items if c.data == "call"]
        for call in calls:
            name = str(call.children[0])
            if name.upper() != "COUNT" or any(arg is not None for arg in call.children[1:]):
                args = ", ".join(_path_text(a) for a in call.children[1:] if isinstance(a, Tree))
                raise _malformed(
                    f"{name}({args}) is not supported {_EMULATOR}: the only function supported is COUNT()"
                )
        if calls:
            if len(items) > 1:
                raise _malformed("COUNT() must be the only element in the SELECT list")
            return True, ()
        refs: list[_FieldRef] = []
        seen: set[str] = set()
        for item in items:
            ref = self._field(item)
            if ref.path.lower() in seen:
                raise _malformed(f"duplicate field selected: {ref.path}")
            seen.add(ref.path.lower())
            refs.append(ref)
        return False, tuple(refs)

    def _field(self, path_tree: Tree[Token]) -> _FieldRef:
        assert self.sobject is not None
        parts = [str(t) for t in path_tree.children]
        obj = self.sobject
        if len(parts) == 1:
            own = self._lookup_field(obj, parts[0])
            return _FieldRef(path=own.name, field=own)
        if len(parts) > 2:
            raise _malformed(
                f"'{'.'.join(parts)}': only one level of parent relationship is supported {_EMULATOR}"
            )
        rel_name, field_name = parts
        lookup = obj.relationship(rel_name)
        parent = self.schema.object(lookup.reference_to) if lookup and lookup.reference_to else None
        if lookup is None or parent is None or lookup.relationship_name is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"Didn't understand relationship '{rel_name}' in field path. If you are attempting to use a "
                "custom relationship, be sure to append the '__r' after the custom relationship name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
            )
        leaf = self._lookup_field(parent, field_name)
        self.lookups[lookup.relationship_name.lower()] = (lookup, parent)
        return _FieldRef(
            path=f"{lookup.relationship_name}.{leaf.name}", field=leaf, lookup=lookup, parent=parent
        )

    @staticmethod
    def _lookup_field(obj: ObjectDef, name: str) -> FieldDef:
        found = obj.field(name)
        if found is None and name.lower() == "id":
            found = FieldDef("Id", "id", "Record ID", length=18)
        if found is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name. Please reference your "
                "WSDL or the describe call for the appropriate names.",
            )
        return found

    # ------------------------------------------------------------------------------------------ WHERE

    def _condition(self, node: Tree[Token]) -> _Cond:
        kind = node.data
        if kind == "and_cond":
            return _And(tuple(self._condition(c) for c in node.children if isinstance(c, Tree)))
        if kind == "or_cond":
            return _Or(tuple(self._condition(c) for c in node.children if isinstance(c, Tree)))
        if kind == "not_cond":
            return _Not(self._condition(_sub(node, 1)))
        ref = self._field(_sub(node, 0))
        if kind == "compare":
            op = "!=" if str(node.children[1]) == "<>" else str(node.children[1])
            return self._compare(ref, op, _sub(node, 2))
        if kind == "like":
            return self._like(ref, _sub(node, 2))
        # in_list / not_in_list: the value list is the last child
        op = "in" if kind == "in_list" else "not in"
        values = [self._literal(ref, v) for v in _sub(node, -1).children if isinstance(v, Tree)]
        has_null = any(v is _NULL for v in values)
        if ref.kind == "boolean" and has_null:
            values = [False if v is _NULL else v for v in values]
            has_null = False
        operands = frozenset(_normalise(ref.kind, v, equality=True) for v in values if v is not _NULL)
        return _Compare(ref, op, operands, null_operand=has_null)

    def _compare(self, ref: _FieldRef, op: str, value_tree: Tree[Token]) -> _Compare:
        value = self._literal(ref, value_tree)
        if value is _NULL:
            if op not in {"=", "!="}:
                raise _malformed(f"null can only be compared with = or != (field '{ref.path}')")
            if ref.kind == "boolean":  # Salesforce: "Flag__c = null" is "Flag__c = false"
                return _Compare(ref, op, False)
            return _Compare(ref, op, None, null_operand=True)
        if op not in {"=", "!="} and ref.kind == "boolean":
            raise SoqlError("INVALID_FIELD", f"invalid operator {op} on boolean field '{ref.path}'")
        return _Compare(ref, op, _normalise(ref.kind, value, equality=op in {"=", "!="}))

    def _like(self, ref: _FieldRef, value_tree: Tree[Token]) -> _Compare:
        if ref.kind != "text":
            raise SoqlError(
                "INVALID_FIELD",
                f"invalid operator on field '{ref.path}': LIKE is only supported on string fields "
                f"(the field is of type {ref.field.type})",
            )
        if value_tree.data == "null":
            raise _malformed(f"null can only be compared with = or != (field '{ref.path}')")
        if value_tree.data != "string":
            raise SoqlError(
                "INVALID_FIELD",
                f"value of filter criterion for field '{ref.path}' must be of type string and should be "
                "enclosed in quotes",
            )
        chars = _decode_string(str(value_tree.children[0]))
        pattern = "".join(
            ".*" if (c == "%" and not esc) else "." if (c == "_" and not esc) else re.escape(c)
            for c, esc in chars
        )
        return _Compare(ref, "like", re.compile(pattern, re.IGNORECASE | re.DOTALL))

    def _literal(self, ref: _FieldRef, value_tree: Tree[Token]) -> Any:
        """The literal as a Python value of the field's kind (type-checked like Salesforce), or _NULL."""
        lit = value_tree.data
        raw = str(value_tree.children[0]) if value_tree.children else ""
        if lit == "null":
            return _NULL
        if lit == "word":
            return _reject_word(value_tree)
        kind = ref.kind
        expected = {"text": "string", "id": "string", "number": "number", "boolean": "boolean"}.get(
            kind, kind
        )
        if lit == "string" and kind in {"text", "id"}:
            value = _plain_string(raw)
            if kind == "id" and not _ID_RE.fullmatch(value):
                raise SoqlError("INVALID_FIELD", f"invalid ID field: {value}")
            return value
        if lit == "number" and kind == "number":
            return float(raw) if "." in raw else int(raw)
        if lit in {"true", "false"} and kind == "boolean":
            return lit == "true"
        if lit == "date" and kind == "date":
            try:
                return date.fromisoformat(raw).isoformat()
            except ValueError:
                raise _malformed(f"invalid date literal: {raw}") from None
        if lit == "datetime" and kind == "datetime":
            return _datetime_literal(raw)
        if kind in {"text", "id"}:
            raise SoqlError(
                "INVALID_FIELD",
                f"value of filter criterion for field '{ref.path}' must be of type string and should be "
                "enclosed in quotes",
            )
        sf_type = {"number": _number_type_name(ref.field), "datetime": "dateTime"}.get(kind, expected)
        raise SoqlError(
            "INVALID_FIELD",
            f"value of filter criterion for field '{ref.path}' must be of type {sf_type} and should not be "
            "enclosed in quotes",
        )

    # --------------------------------------------------------------------------------------- ORDER BY

    def _order_by(self, clause: Tree[Token]) -> tuple[_OrderItem, ...]:
        items: list[_OrderItem] = []
        for item in clause.children[2:]:
            if not isinstance(item, Tree):
                continue
            path, direction, nulls = (_sub(item, 0), item.children[1], item.children[2])
            descending = isinstance(direction, Tree) and str(direction.children[0]).upper() == "DESC"
            nulls_first = (
                (not descending) if not isinstance(nulls, Tree) else str(nulls.children[1]).upper() == "FIRST"
            )
            items.append(_OrderItem(self._field(path), descending, nulls_first))
        return tuple(items)


# ------------------------------------------------------------------------------------------ literals


class _NullType:
    def __repr__(self) -> str:
        return "null"


_NULL = _NullType()
_ID_RE = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?")
_ESCAPES = {
    "n": "\n",
    "N": "\n",
    "r": "\r",
    "R": "\r",
    "t": "\t",
    "T": "\t",
    "b": "\b",
    "B": "\b",
    "f": "\f",
    "F": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}
_DATE_LITERAL = re.compile(
    r"(?:YESTERDAY|TODAY|TOMORROW|(?:LAST|THIS|NEXT)_(?:WEEK|MONTH|QUARTER|YEAR|FISCAL_QUARTER|FISCAL_YEAR)"
    r"|LAST_90_DAYS|NEXT_90_DAYS|(?:LAST|NEXT|N)_\w+)",
    re.IGNORECASE,
)


def _reject_word(value_tree: Tree[Token]) -> Any:
    word = str(value_tree.children[0])
    arg = value_tree.children[1]
    shown = word if arg is None else f"{word}:{arg}"
    if _DATE_LITERAL.fullmatch(word):
        raise _malformed(f"Date literals such as {shown} are not supported {_EMULATOR}")
    raise _malformed(f"unexpected token: '{shown}' (a filter value must be a literal)")


def _decode_string(raw: str) -> list[tuple[str, bool]]:
    """The characters of a quoted SOQL string, each flagged as escaped or not."""
    body = raw[1:-1]
    out: list[tuple[str, bool]] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append((c, False))
            i += 1
            continue
        nxt = body[i + 1]  # the lexer guarantees a backslash is followed by a character
        if nxt in _ESCAPES:
            out.append((_ESCAPES[nxt], True))
        elif nxt in "_%":
            out.append((nxt, True))
        else:
            raise _malformed(
                f"Invalid string literal {raw}. Illegal character sequence '\\{nxt}' in string literal."
            )
        i += 2
    return out


def _plain_string(raw: str) -> str:
    chars = _decode_string(raw)
    if any(esc and c in "_%" for c, esc in chars):
        raise _malformed(f"Invalid string literal {raw}: \\_ and \\% are only allowed in LIKE patterns")
    return "".join(c for c, _esc in chars)


_DATETIME_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(?:(Z)|([+-])(\d{2}):?(\d{2}))",
    re.IGNORECASE,
)


def _datetime_literal(raw: str) -> str:
    """A SOQL datetime literal as the engine's datetime key (UTC ``YYYY-MM-DDTHH:MM:SS.mmm``)."""
    m = _DATETIME_RE.fullmatch(raw)
    if m is None:  # pragma: no cover - the lexer only produces matching tokens
        raise _malformed(f"invalid dateTime literal: {raw}")
    day, hh, mm, ss, frac, zulu, sign, oh, om = m.groups()
    try:
        offset = (
            timedelta(0) if zulu else (1 if sign == "+" else -1) * timedelta(hours=int(oh), minutes=int(om))
        )
        value = datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss}").replace(
            microsecond=int((frac or "0").ljust(3, "0")) * 1000, tzinfo=timezone(offset)
        )
    except ValueError:
        raise _malformed(f"invalid dateTime literal: {raw}") from None
    return _utc_key(value)


def _utc_key(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def _datetime_key(stored: Any) -> str:
    """A stored datetime (``YYYY-MM-DDTHH:MM:SS.000+0000``, or any ISO form) as a sortable UTC key."""
    if isinstance(stored, str) and len(stored) == 28 and stored.endswith("+0000") and stored[19] == ".":
        return stored[:23]
    if isinstance(stored, datetime):
        return _utc_key(stored)
    return _utc_key(datetime.fromisoformat(str(stored)))


def _number_type_name(f: FieldDef) -> str:
    return "integer" if f.type == "int" else "double"


# -------------------------------------------------------------------------------------- field kinds


def _kind(f: FieldDef) -> _Kind:
    if f.type in {"id", "reference"}:
        return "id"
    if f.type in NUMBER_TYPES:
        return "number"
    if f.type in {"boolean", "date", "datetime"}:
        return f.type
    return "text"


def _normalise(kind: _Kind, value: Any, *, equality: bool) -> Any:
    """A non-null value (row value or literal) in the form it is compared in."""
    if kind == "text":
        return str(value).upper()
    if kind == "id":
        return str(value)[:15] if equality else str(value)
    if kind == "datetime":
        return _datetime_key(value)
    if kind == "boolean":
        return bool(value)
    return value


def _normaliser(kind: _Kind, *, equality: bool) -> Callable[[Any], Any] | None:
    """The row-value normaliser for a comparison (None: compare the raw value)."""
    if kind == "text":
        return lambda v: str(v).upper()
    if kind == "id":
        return (lambda v: str(v)[:15]) if equality else None
    if kind == "datetime":
        return _datetime_key
    return None


# ------------------------------------------------------------------------------------------ execute


def _index_by_id(rows: Iterable[Row]) -> dict[str, Row]:
    index: dict[str, Row] = {}
    for row in rows:
        rid = row.get("Id")
        if rid:
            index[rid] = row
            index.setdefault(rid[:15], row)
    return index


def _make_getter(ref: _FieldRef, parents: dict[str, dict[str, Row]]) -> _Getter:
    name = ref.field.name
    boolean = ref.kind == "boolean"
    if ref.lookup is None:
        if boolean:
            return lambda row: bool(row.get(name))
        return lambda row: row.get(name)
    assert ref.lookup.relationship_name is not None
    index = parents[ref.lookup.relationship_name.lower()]
    fk = ref.lookup.name

    def parent_value(row: Row) -> Any:
        parent_id = row.get(fk)
        parent = index.get(parent_id) if parent_id else None
        value = None if parent is None else parent.get(name)
        return bool(value) if boolean else value

    return parent_value


_ORDER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _predicate(cond: _Cond, getter: Callable[[_FieldRef], _Getter]) -> _Pred:
    if isinstance(cond, _And):
        parts = [_predicate(p, getter) for p in cond.parts]
        return lambda row: all(p(row) for p in parts)
    if isinstance(cond, _Or):
        parts = [_predicate(p, getter) for p in cond.parts]
        return lambda row: any(p(row) for p in parts)
    if isinstance(cond, _Not):
        inner = _predicate(cond.part, getter)
        return lambda row: not inner(row)
    return _comparison(cond, getter(cond.ref))


def _comparison(cmp: _Compare, get: _Getter) -> _Pred:
    op, operand = cmp.op, cmp.operand
    if cmp.null_operand and op in {"=", "!="}:
        if op == "=":
            return lambda row: get(row) is None
        return lambda row: get(row) is not None
    if op == "like":
        match = operand.fullmatch

        def like(row: Row) -> bool:
            v = get(row)
            return v is not None and match(str(v)) is not None

        return like
    norm = _normaliser(cmp.ref.kind, equality=op in {"=", "!=", "in", "not in"})
    if op in {"in", "not in"}:
        has_null, negate = cmp.null_operand, op == "not in"

        def member(row: Row) -> bool:
            v = get(row)
            found = has_null if v is None else (norm(v) if norm else v) in operand
            return found != negate

        return member
    if op == "=":
        if norm is None:
            return lambda row: (v := get(row)) is not None and v == operand
        return lambda row: (v := get(row)) is not None and norm(v) == operand
    if op == "!=":
        if norm is None:
            return lambda row: (v := get(row)) is None or v != operand
        return lambda row: (v := get(row)) is None or norm(v) != operand
    compare = _ORDER_OPS[op]
    if norm is None:
        return lambda row: (v := get(row)) is not None and compare(v, operand)
    return lambda row: (v := get(row)) is not None and compare(norm(v), operand)


def _sort_key(item: _OrderItem, get: _Getter) -> Callable[[Row], tuple[int, Any]]:
    """A key for a stable ``list.sort`` (with ``reverse=item.descending``) placing nulls as asked."""
    norm = _normaliser(item.ref.kind, equality=False)
    # With reverse=True the biggest group comes first, so the null group flips sides.
    null_group = 0 if item.nulls_first != item.descending else 2

    def key(row: Row) -> tuple[int, Any]:
        v = get(row)
        if v is None:
            return (null_group, 0)
        return (1, norm(v) if norm else v)

    return key


def _shaper(
    obj: ObjectDef, fields: tuple[_FieldRef, ...], parents: dict[str, dict[str, Row]], version: str
) -> Callable[[Row], dict[str, Any]]:
    """Build a row -> REST record function for the SELECT list (keys in canonical case, SELECT order)."""
    base = f"/services/data/v{version}/sobjects/"
    # Plan: top-level entries in SELECT order; a relationship appears once, where first selected.
    plan: list[tuple[str, Any]] = []  # ("field", name) | ("parent", (rel_name, fk, index, parent, [names]))
    by_rel: dict[str, list[str]] = {}
    for ref in fields:
        if ref.lookup is None:
            plan.append(("field", ref.field.name))
            continue
        rel = ref.lookup.relationship_name
        assert rel is not None and ref.parent is not None
        if rel not in by_rel:
            by_rel[rel] = []
            plan.append(("parent", (rel, ref.lookup.name, parents[rel.lower()], ref.parent, by_rel[rel])))
        by_rel[rel].append(ref.field.name)
    obj_url = base + obj.name + "/"

    def shape(row: Row) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": {"type": obj.name, "url": obj_url + str(row.get("Id"))}}
        for kind, spec in plan:
            if kind == "field":
                record[spec] = row.get(spec)
                continue
            rel, fk, index, parent_obj, names = spec
            parent_id = row.get(fk)
            parent = index.get(parent_id) if parent_id else None
            if parent is None:
                record[rel] = None
                continue
            nested: dict[str, Any] = {
                "attributes": {"type": parent_obj.name, "url": f"{base}{parent_obj.name}/{parent.get('Id')}"}
            }
            for name in names:
                nested[name] = parent.get(name)
            record[rel] = nested
        return record

    return shape


def _sub(node: Tree[Token], index: int) -> Tree[Token]:
    child = node.children[index]
    assert isinstance(child, Tree), child
    return child


def _path_text(tree: Tree[Token]) -> str:
    return ".".join(str(t) for t in tree.children)
