import base64
import io
import json
import zipfile

import pytest

from claimsync.report import ReportFormatError, SourceRow, iter_report_rows

pytestmark = pytest.mark.unit

ROWS = [{"ClaimID": "1", "ClaimTotalAmount": "$1,000.00"}, {"ClaimID": "2", "ClaimTotalAmount": "(5.00)"}]


def values(data: bytes) -> list[dict[str, str]]:
    return [row.values for row in iter_report_rows(data)]


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def csv_bytes(rows):
    header = list(rows[0])
    lines = [",".join(header)] + [",".join(f'"{r[h]}"' for h in header) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def test_json_list_member():
    assert values(make_zip({"report.json": json.dumps(ROWS).encode()})) == ROWS


def test_json_object_with_data_and_non_string_values():
    doc = {"Data": [{"ClaimID": 7, "Paid": None, "Flag": True}]}
    rows = values(make_zip({"r.json": json.dumps(doc).encode()}))
    assert rows == [{"ClaimID": "7", "Paid": "", "Flag": "true"}]


def test_csv_member_with_bom_and_quoted_commas():
    data = b'\xef\xbb\xbfClaimID,ClaimTotalAmount\n1,"$1,000.00"\n2,(5.00)\n'
    assert values(make_zip({"report.csv": data})) == ROWS


def test_json_preferred_when_both_formats_render_the_same_report():
    z = make_zip({"report.csv": csv_bytes(ROWS), "report.json": json.dumps(ROWS).encode()})
    assert values(z) == ROWS


def test_several_csv_members_are_read_in_name_order():
    z = make_zip({"b.csv": csv_bytes(ROWS[1:]), "a.csv": csv_bytes(ROWS[:1])})
    assert values(z) == ROWS


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a zip at all", "corrupt"),
        (base64.b64encode(b"garbage"), "corrupt"),
        (make_zip({"readme.txt": b"hi"}), "no JSON or CSV member"),
        (make_zip({"r.json": b"{not json"}), "not valid JSON"),
        (make_zip({"r.json": b'{"rows": []}'}), "neither a list"),
        (make_zip({"r.json": b"[1, 2]"}), "item 1 is not an object"),
        (make_zip({"r.csv": b"a,b\n1,2,3\n"}), "line 2 has 3 fields"),
        (make_zip({"r.csv": b'a,b\n"1,2\n'}), "not valid CSV"),
    ],
)
def test_unreadable_reports_raise_a_clear_error_without_values(data, message):
    with pytest.raises(ReportFormatError, match=message) as err:
        list(iter_report_rows(data))
    assert "1,2" not in str(err.value)


def test_a_lone_surrogate_from_a_json_escape_is_repaired_and_its_column_named():
    # Valid JSON: "\ud83d" is half an emoji, as a UTF-16 system that truncates a name writes it.
    doc = b'[{"ClaimID": "1", "PateintNameID": "DOE, J\\ud83d (7)"}, {"ClaimID": "2"}]'
    rows = list(iter_report_rows(make_zip({"r.json": doc})))
    assert rows[0] == SourceRow({"ClaimID": "1", "PateintNameID": "DOE, J\ufffd (7)"}, ("PateintNameID",))
    assert rows[1] == SourceRow({"ClaimID": "2"})
    for row in rows:  # everything downstream can encode every string
        json.dumps(row.values, ensure_ascii=False).encode("utf-8")


def test_bytes_that_are_not_utf8_in_a_csv_reject_the_row_not_the_report():
    # a lone surrogate written as its UTF-8 bytes (ED A0 BD), and a stray Latin-1 byte
    data = b"ClaimID,PateintNameID,PaymentCheck\n1,DOE \xed\xa0\xbd,ok\n2,fine,caf\xe9\n3,ok,ok\n"
    rows = list(iter_report_rows(make_zip({"r.csv": data})))
    assert [row.invalid_text for row in rows] == [("PateintNameID",), ("PaymentCheck",), ()]
    assert rows[1].values["PaymentCheck"] == "caf\ufffd"


def test_a_csv_member_is_read_as_a_stream():
    # a quoted field with line breaks across the reader's chunks still parses as one value
    long_value = "x" * 70_000 + "\r\n" + "y" * 10
    data = ('ClaimID,PrimaryAuth\r\n1,"' + long_value + '"\r\n2,b\r\n').encode()
    assert values(make_zip({"r.csv": data})) == [
        {"ClaimID": "1", "PrimaryAuth": long_value},
        {"ClaimID": "2", "PrimaryAuth": "b"},
    ]


def test_a_json_row_is_staged_as_written_only_when_that_decodes_to_its_values():
    from claimsync.steps.staged import StagedPage

    member = (
        b'[{"ClaimID": "1", "Name": "caf\\u00e9 \\ud83d\\ude00"},\n'  # escapes: copied, decode the same
        b'{"ClaimID": "2", "Paid": 5},'  # a number: becomes "5", so encoded again
        b'{"ClaimID": "3", "Name": "\\ud83d"},'  # a lone surrogate: repaired, so encoded again
        b'{"ClaimID": "4",\n "Name": "x"}]'  # a line break inside the row: never copied
    )
    rows = list(iter_report_rows(make_zip({"r.json": member})))
    assert [row.json_text is not None for row in rows] == [True, False, False, False]
    page = StagedPage.from_lines(b"".join(StagedPage.line(n, row) for n, row in enumerate(rows, 1)))
    assert [values for _, values in page.rows] == [row.values for row in rows]
    assert page.rows[0][1] == {"ClaimID": "1", "Name": "caf\u00e9 \U0001f600"}
    assert page.invalid_text == {3: ["Name"]}


def test_json_rows_of_any_size_are_read_across_the_readers_chunks():
    # rows far smaller and far larger than the reader's 64 KiB chunk, in turn, and numbers that may end
    # at a chunk's end: each row is read whole, as it is, whatever the chunk boundaries
    sizes = [10, 70_000, 5, 200_000, 1, 65_000, 3, 30_000, 2] * 3
    rows = [{"ClaimID": str(n), "Note": "n" * size, "Paid": n * 7} for n, size in enumerate(sizes)]
    member = json.dumps(rows).encode()
    assert values(make_zip({"r.json": member})) == [
        {"ClaimID": str(n), "Note": "n" * size, "Paid": str(n * 7)} for n, size in enumerate(sizes)
    ]
