"""Loading report files: JSON list, JSON object with data, CSV; clear errors that never show row values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.collaboratemd_emulator.reportfile import ReportFileError, load_report_file

pytestmark = pytest.mark.contract

SECRET = "DOE, JANE (123456)"  # a row value that must never appear in an error message


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def test_json_list(tmp_path: Path) -> None:
    rows = [{"ClaimID": 1, "ClaimTotalAmount": 1000.5, "PaymentReceived": None, "Flag": True, "Name": SECRET}]
    path = write(tmp_path, "report.json", json.dumps(rows))
    assert load_report_file(path) == [
        {"ClaimID": "1", "ClaimTotalAmount": "1000.5", "PaymentReceived": "", "Flag": "true", "Name": SECRET}
    ]


def test_json_object_with_data(tmp_path: Path) -> None:
    path = write(tmp_path, "report.json", json.dumps({"data": [{"ClaimID": "1"}, {"ClaimID": "2"}]}))
    assert load_report_file(path) == [{"ClaimID": "1"}, {"ClaimID": "2"}]


def test_csv_with_bom_quotes_and_crlf(tmp_path: Path) -> None:
    content = '\ufeffClaimID,PateintNameID,ClaimTotalAmount\r\n1,"DOE, JANE (1)","$1,867.99"\r\n\r\n2,,0\r\n'
    assert load_report_file(write(tmp_path, "report.csv", content)) == [
        {"ClaimID": "1", "PateintNameID": "DOE, JANE (1)", "ClaimTotalAmount": "$1,867.99"},
        {"ClaimID": "2", "PateintNameID": "", "ClaimTotalAmount": "0"},
    ]


def test_format_is_sniffed_without_a_known_suffix(tmp_path: Path) -> None:
    assert load_report_file(write(tmp_path, "a.txt", ' [{"ClaimID": "1"}]')) == [{"ClaimID": "1"}]
    assert load_report_file(write(tmp_path, "b.txt", "ClaimID\n1\n")) == [{"ClaimID": "1"}]


def test_header_only_csv_and_empty_json_list_are_empty_reports(tmp_path: Path) -> None:
    assert load_report_file(write(tmp_path, "a.csv", "ClaimID,ClaimBalance\r\n")) == []
    assert load_report_file(write(tmp_path, "a.json", "[]")) == []


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.json", '[{"Name": "' + SECRET + '"', "not valid JSON"),
        ("bad.json", '"' + SECRET + '"', "expected a JSON list"),
        ("bad.json", json.dumps({"rows": [{"Name": SECRET}]}), '"data" list'),
        ("bad.json", json.dumps({"data": {"Name": SECRET}}), '"data" must be a list'),
        ("bad.json", json.dumps([{"Name": SECRET}, SECRET]), "row 2 is a str"),
        ("bad.json", json.dumps([{"Name": {"first": SECRET}}]), "row 1, column 'Name'"),
        ("bad.csv", "", "empty file"),
        ("bad.csv", "ClaimID,Name\r\n1," + SECRET.replace(",", "") + ",extra\r\n", "line 2: 3 fields"),
        ("bad.csv", "ClaimID,Name\r\n1\r\n", "line 2: 1 fields"),
        ("bad.csv", "ClaimID,ClaimID\r\n1,2\r\n", "repeats column(s): ClaimID"),
        ("bad.csv", "ClaimID,\r\n1,2\r\n", "empty column name"),
        ("bad.csv", 'ClaimID,Name\r\n1,"' + SECRET + "\r\n", "not valid CSV"),
        ("bad.csv", b"ClaimID,Name\r\n1,\xff\xfe\r\n", "not UTF-8"),
    ],
)
def test_bad_files_raise_a_clear_error_without_row_values(
    tmp_path: Path, name: str, content: str | bytes, expected: str
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(ReportFileError) as caught:
        load_report_file(path)
    message = str(caught.value)
    assert expected in message
    assert name in message
    assert "DOE" not in message and "JANE" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReportFileError, match="cannot read the file"):
        load_report_file(tmp_path / "nope.json")
