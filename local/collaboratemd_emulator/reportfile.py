"""Report rows from a file: a JSON list of row objects, a JSON object with a ``data`` list, or a CSV.

Used by ``claimsync local up --report-file``, ``claimsync local set-report`` and the emulator's
``PUT /__admin/rows``. Every value becomes a string (``None`` becomes ``""``), as the real report
delivers them. Errors name the problem and where it is (row number, column name, line), never a row's
values: report files hold PHI.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

ReportFormat = Literal["json", "csv"]


class ReportFileError(ValueError):
    """The report file cannot be read as report rows; the message says why (no row values)."""


def load_report_file(path: Path | str) -> list[dict[str, str]]:
    """The rows in ``path``. The format comes from the suffix (``.json``/``.csv``), else from the content."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReportFileError(
            f"{path}: cannot read the file ({exc.strerror or type(exc).__name__})"
        ) from None
    suffix = path.suffix.lower()
    fmt: ReportFormat | None = "json" if suffix == ".json" else "csv" if suffix == ".csv" else None
    try:
        return parse_report_bytes(data, fmt)
    except ReportFileError as exc:
        raise ReportFileError(f"{path}: {exc}") from None


def parse_report_bytes(data: bytes, fmt: ReportFormat | None = None) -> list[dict[str, str]]:
    """Rows from the bytes of a report file; ``fmt=None`` sniffs JSON (``[`` or ``{``) versus CSV."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReportFileError(f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    if fmt is None:
        fmt = "json" if text.lstrip()[:1] in ("[", "{") else "csv"
    if fmt == "json":
        return _parse_json(text)
    return _parse_csv(text)


def rows_from_json_value(value: Any) -> list[dict[str, str]]:
    """Rows from decoded JSON: a list of row objects or an object with a ``data`` list."""
    if isinstance(value, dict):
        if "data" not in value:
            raise ReportFileError('a JSON object must hold the rows in a "data" list')
        value = value["data"]
        if not isinstance(value, list):
            raise ReportFileError('"data" must be a list of row objects')
    elif not isinstance(value, list):
        raise ReportFileError("expected a JSON list of row objects or an object with a data list")
    return normalize_rows(value)


def normalize_rows(rows: Iterable[Any]) -> list[dict[str, str]]:
    """Copies of ``rows`` with every value a string; raises ``ReportFileError`` for non-object rows."""
    result: list[dict[str, str]] = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise ReportFileError(f"row {number} is a {_json_type(row)}, expected an object")
        result.append({str(key): _as_text(value, number, key) for key, value in row.items()})
    return result


def _parse_json(text: str) -> list[dict[str, str]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportFileError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return rows_from_json_value(value)


def _parse_csv(text: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[dict[str, str]] = []
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)  # leading blank lines
        if header is None:
            raise ReportFileError("empty file: a CSV report needs a header row")
        header = [name.strip() for name in header]
        if any(not name for name in header):
            raise ReportFileError("the CSV header has an empty column name")
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise ReportFileError(f"the CSV header repeats column(s): {', '.join(duplicates)}")
        for record in reader:
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank line
            if len(record) != len(header):
                raise ReportFileError(
                    f"line {reader.line_num}: {len(record)} fields, the header has {len(header)}"
                )
            rows.append(dict(zip(header, record, strict=True)))
    except csv.Error as exc:
        raise ReportFileError(f"not valid CSV near line {reader.line_num}: {exc}") from None
    return rows


def _as_text(value: Any, row_number: int, column: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    raise ReportFileError(
        f"row {row_number}, column {column!r}: a {_json_type(value)} where a text or number was expected"
    )


def _json_type(value: object) -> str:
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__
