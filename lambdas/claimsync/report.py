"""Reading a CollaborateMD report: the ZIP returned by the results call, with JSON and/or CSV members.

A member is either JSON (a list of row objects, or an object holding such a list under ``data``) or
CSV with a header row. When a ZIP carries both formats they are renderings of the same report, so
the JSON members are read and the CSV ones ignored; otherwise every member is read in name order.
Every value becomes a string ("" for null) — the transformation rules expect strings.

This is where report text enters claimsync, so it is checked here, once (``claimsync.text``): a value
that is not valid Unicode (a lone surrogate from a JSON escape, or bytes that are not UTF-8 in a CSV)
is repaired to U+FFFD and its column recorded in :attr:`SourceRow.invalid_text`; the transformation
rejects that row ``INVALID_TEXT`` and the run goes on. Nothing downstream meets text UTF-8 cannot
encode.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from claimsync import text
from claimsync.errors import ClaimsyncError


class ReportFormatError(ClaimsyncError):
    """The report cannot be read. Messages name the member and the problem, never row values.

    ``damaged``: the ZIP itself is damaged (truncated, bad CRC) — a download problem that fetching
    the results again may cure — rather than content that is not a report."""

    def __init__(self, message: str, *, damaged: bool = False) -> None:
        super().__init__(message)
        self.damaged = damaged


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One report row as read: column → text, and the columns whose text had to be repaired."""

    values: dict[str, str]
    invalid_text: tuple[str, ...] = ()
    # The row's JSON object as the member wrote it, when decoding it gives exactly ``values`` (every
    # value a string, valid text, one line): staging copies it instead of encoding ``values`` again.
    json_text: str | None = field(default=None, repr=False, compare=False)


def iter_report_rows(report_zip: bytes | IO[bytes]) -> Iterator[SourceRow]:
    """The rows of a report ZIP (bytes, or a seekable binary file such as a spool file)."""
    source = io.BytesIO(report_zip) if isinstance(report_zip, bytes | bytearray) else report_zip
    try:
        archive = zipfile.ZipFile(source)
        names = sorted(n for n in archive.namelist() if not n.endswith("/"))
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise ReportFormatError("the report ZIP is corrupt", damaged=True) from None
    json_members = [n for n in names if n.lower().endswith(".json")]
    csv_members = [n for n in names if n.lower().endswith(".csv")]
    members = json_members or csv_members
    if not members:
        raise ReportFormatError("the report ZIP holds no JSON or CSV member")
    with archive:
        for name in members:
            try:
                with archive.open(name) as member:
                    yield from iter_member_rows(name, member)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error):
                raise ReportFormatError(f"member {name!r} cannot be decompressed", damaged=True) from None


def iter_member_rows(name: str, member: IO[bytes]) -> Iterator[SourceRow]:
    """The rows of one member (or of a report file: ``claimsync preview`` reads files through here),
    read as a stream: a row is parsed, checked and handed on before the next is read."""
    if name.lower().endswith(".json"):
        return _json_rows(name, member)
    return _csv_rows(name, member)


def _json_rows(name: str, member: IO[bytes]) -> Iterator[SourceRow]:
    scanner = _JsonScanner(io.TextIOWrapper(member, encoding="utf-8-sig", errors="surrogateescape"), name)
    start = scanner.next_char()
    items = scanner.array_items() if start == "[" else scanner.data_items() if start == "{" else None
    if items is None:
        raise ReportFormatError(f"member {name!r} holds neither a list of rows nor an object with 'data'")
    for index, (row, row_text) in enumerate(items, start=1):
        if not isinstance(row, dict):
            raise ReportFormatError(f"member {name!r}: item {index} is not an object")
        try:
            "".join(row.values())  # a TypeError unless every value is a string: the usual row
        except TypeError:
            yield _source_row({k: v if v.__class__ is str else _text(v) for k, v in row.items()})
            continue
        one_line = "\n" not in row_text and "\r" not in row_text
        if row_text.isascii() and "\\" not in row_text:
            # Nothing escaped: every key and value is the row's own ASCII text, valid as it is.
            yield SourceRow(row, (), row_text if one_line else None)
            continue
        source = _source_row(row)
        yield SourceRow(row, (), row_text) if source.values is row and one_line else source


class _JsonScanner:
    """A JSON list of rows, or an object holding one under ``data``, read row by row with the
    standard library's own decoder (``raw_decode``) over a sliding buffer. ijson was measured and
    not taken: its C backend silently turns a lone surrogate escape into "?", which would pass a
    damaged name as valid text instead of rejecting the row (``claimsync.text``)."""

    CHUNK = 1 << 16
    MAX_VALUE_CHARS = 16 << 20  # one row (or one other top-level value) larger than this is an error

    def __init__(self, stream: IO[str], name: str) -> None:
        self._stream, self._name = stream, name
        self._buf, self._pos, self._eof = "", 0, False
        self._decoder = json.JSONDecoder()

    def _bad(self, what: str) -> ReportFormatError:
        return ReportFormatError(f"member {self._name!r} is not valid JSON ({what})")

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._stream.read(self.CHUNK)
        if not chunk:
            self._eof = True
            return False
        if self._pos > self.CHUNK:
            self._buf, self._pos = self._buf[self._pos :], 0
        self._buf += chunk
        return True

    def next_char(self) -> str:
        """The next character that is not whitespace, consumed; "" at the end."""
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in " \t\r\n":
                self._pos += 1
            if self._pos < len(self._buf):
                self._pos += 1
                return self._buf[self._pos - 1]
            if not self._fill():
                return ""

    def value(self) -> Any:
        return self.value_and_text()[0]

    def value_and_text(self) -> tuple[Any, str]:
        """The next value and its JSON text as written."""
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError:
                if len(self._buf) - self._pos > self.MAX_VALUE_CHARS or not self._fill():
                    raise self._bad("a value is cut off or malformed") from None
                continue
            if end == len(self._buf) and self._fill():
                continue  # a number at the buffer's end may go on in the next chunk
            start, self._pos = self._pos, end
            return value, self._buf[start:end]

    def array_items(self) -> Iterator[tuple[Any, str]]:
        if self.next_char() == "]":
            return
        self._pos -= 1
        decode = self._decoder.raw_decode
        room = 0  # the last item's length, twice: less than that left in the buffer, read on first
        while True:
            # The usual item: an object starting right here, then "," or "]" inside the buffer.
            buf, start = self._buf, self._pos
            if len(buf) - start < room and self._fill():
                continue  # a decode cut off at the buffer's end fails, and its error is costly to make
            if start < len(buf) and buf[start] == "{":
                try:
                    value, end = decode(buf, start)
                except json.JSONDecodeError:
                    end = len(buf)  # cut off at the buffer's end, or malformed: the general path
                if end < len(buf) and buf[end] in ",]":
                    self._pos, room = end + 1, min(2 * (end - start) + 2, self.CHUNK)
                    yield value, buf[start:end]
                    if buf[end] == "]":
                        return
                    continue
            self._skip_ws()
            yield self.value_and_text()
            separator = self.next_char()
            if separator == "]":
                return
            if separator != ",":
                raise self._bad("expected , or ] between rows")

    def data_items(self) -> Iterator[tuple[Any, str]]:
        while True:
            start = self.next_char()
            if start == "}":
                break
            if start != '"':
                raise self._bad("expected a key")
            self._pos -= 1
            key = self.value()
            if self.next_char() != ":":
                raise self._bad("expected : after a key")
            if isinstance(key, str) and key.lower() == "data":
                if self.next_char() == "[":
                    yield from self.array_items()
                    return
                break
            self._skip_ws()
            self.value()
            if self.next_char() != ",":
                break
        raise ReportFormatError(
            f"member {self._name!r} holds neither a list of rows nor an object with 'data'"
        )

    def _skip_ws(self) -> None:
        if self.next_char():
            self._pos -= 1


def _csv_rows(name: str, member: IO[bytes]) -> Iterator[SourceRow]:
    # surrogateescape: a byte that is not UTF-8 becomes a lone surrogate, which the row check below
    # turns into an INVALID_TEXT reject of that row instead of failing the whole report.
    decoded = io.TextIOWrapper(member, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(decoded, strict=True)
    try:
        header = next(reader, None)
        if not header:
            return
        header = [text.scrub(column) for column in header]
        width = len(header)
        for line, values in enumerate(reader, start=2):
            if not values:
                continue
            if len(values) != width:
                raise ReportFormatError(
                    f"member {name!r}: line {line} has {len(values)} fields, header {width}"
                )
            yield _source_row(dict(zip(header, values, strict=True)))
    except csv.Error:
        raise ReportFormatError(f"member {name!r} is not valid CSV") from None


def _source_row(values: dict[str, str]) -> SourceRow:
    everything = "".join(values) + "".join(values.values())
    if everything.isascii() or text.is_valid(everything):  # the usual row: one check for all of it
        return SourceRow(values)
    bad = tuple(text.scrub(column) for column, value in values.items() if not text.is_valid(value))
    repaired = {text.scrub(column): text.scrub(value) for column, value in values.items()}
    return SourceRow(repaired, bad)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
