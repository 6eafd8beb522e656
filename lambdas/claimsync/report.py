"""Reading a CollaborateMD report: the ZIP returned by the results call, with JSON and/or CSV members.

A member is either JSON (a list of row objects, or an object holding such a list under ``data``) or
CSV with a header row. When a ZIP carries both formats they are renderings of the same report, so
the JSON members are read and the CSV ones ignored; otherwise every member is read in name order.
Every value becomes a string ("" for null) — the transformation rules expect strings.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any


class ReportFormatError(Exception):
    """The report cannot be read. Messages name the member and the problem, never row values."""


def iter_report_rows(zip_bytes: bytes) -> Iterator[dict[str, str]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
        names = sorted(n for n in archive.namelist() if not n.endswith("/"))
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise ReportFormatError("the report ZIP is corrupt") from None
    json_members = [n for n in names if n.lower().endswith(".json")]
    csv_members = [n for n in names if n.lower().endswith(".csv")]
    members = json_members or csv_members
    if not members:
        raise ReportFormatError("the report ZIP holds no JSON or CSV member")
    with archive:
        for name in members:
            try:
                raw = archive.read(name)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
                raise ReportFormatError(f"member {name!r} cannot be decompressed") from None
            if name in json_members:
                yield from _json_rows(name, raw)
            else:
                yield from _csv_rows(name, raw)


def _json_rows(name: str, raw: bytes) -> Iterator[dict[str, str]]:
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise ReportFormatError(f"member {name!r} is not valid JSON") from None
    if isinstance(doc, dict):
        doc = next((v for k, v in doc.items() if k.lower() == "data"), None)
    if not isinstance(doc, list):
        raise ReportFormatError(f"member {name!r} holds neither a list of rows nor an object with 'data'")
    for index, row in enumerate(doc, start=1):
        if not isinstance(row, dict):
            raise ReportFormatError(f"member {name!r}: item {index} is not an object")
        yield {str(k): _text(v) for k, v in row.items()}


def _csv_rows(name: str, raw: bytes) -> Iterator[dict[str, str]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReportFormatError(f"member {name!r} is not UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if not header:
            return
        width = len(header)
        for line, values in enumerate(reader, start=2):
            if not values:
                continue
            if len(values) != width:
                raise ReportFormatError(
                    f"member {name!r}: line {line} has {len(values)} fields, header {width}"
                )
            yield dict(zip(header, values, strict=True))
    except csv.Error:
        raise ReportFormatError(f"member {name!r} is not valid CSV") from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
