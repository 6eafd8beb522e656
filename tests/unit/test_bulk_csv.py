"""Bulk API 2.0 CSV (salesforce.md §3): format, #N/A, ordering by parent, size splitting, unique ids."""

from __future__ import annotations

import csv
import io

import pytest

from claimsync.bulk_csv import (
    NULL,
    DuplicateExternalIdError,
    header,
    sort_for_bulk,
    write_bulk_csv,
)
from claimsync.mapping_file import load_mapping
from claimsync.payors import PayorIndex
from claimsync.transform import ClaimRecord, transform_row

pytestmark = pytest.mark.unit

MAPPING = load_mapping()
RUN_ID = "run-2024-06-01T10:00:00Z-abc"
PAYORS = PayorIndex.from_records(
    [
        {"CMD_Payer_Id__c": "P1", "Claim_Payor__c": "a0B000000000001AAA"},
        {"CMD_Payer_Id__c": "P2", "Claim_Payor__c": "a0B000000000002AAA"},
    ]
)


def make(claim_id: str, payer_id: str = "P1", **changes: str) -> ClaimRecord:
    row = (
        dict.fromkeys(MAPPING.source_columns, "")
        | {
            "ClaimID": claim_id,
            "PateintNameID": "DOE, JANE (7)",
            "PayerID": payer_id,
            "ClaimPrimaryPayerName": "Payer",
            "StatementCoversFromDate": "01/02/2024",
            "ClaimTotalAmount": "$1,867.99",
            "updatedAt": "2024-02-01T10:20:30.456Z",
        }
        | changes
    )
    result = transform_row(row, 1, MAPPING, PAYORS)
    assert isinstance(result, ClaimRecord), result
    return result


def read(document: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(document.decode("utf-8"), newline="")))


def write(records: list[ClaimRecord]) -> bytes:
    out = io.BytesIO()
    written = write_bulk_csv(records, MAPPING, RUN_ID, out)
    assert written == len(out.getvalue())
    return out.getvalue()


def test_header_is_the_mapping_columns_then_the_run_field() -> None:
    assert header(MAPPING) == [*MAPPING.columns, "Last_Sync_Run__c"]
    assert write([]).decode("utf-8") == ",".join(header(MAPPING)) + "\n"


def test_round_trip_with_awkward_values() -> None:
    awkward = [
        make("C-1", PateintNameID='O"NEIL, "JJ", JR (9)', PaymentCheck="a,b"),
        make("C-2", PrimaryAuth="line1\nline2", PatientReference="cr\rlf\r\nend"),
        make("C-3", PateintNameID="Ñúñez, José 李 😀 (Ä-1)", payer_id="NOPE"),
        make("C-4", ClaimTotalAmount="", PateintNameID=""),
    ]
    document = write(awkward)
    assert not document.startswith(b"\xef\xbb\xbf")  # no byte-order mark
    rows = read(document)
    assert rows[0] == header(MAPPING)
    assert len(rows) == 1 + len(awkward)
    for record, line in zip(awkward, rows[1:], strict=True):
        expected = [NULL if record.fields[c] is None else record.fields[c] for c in MAPPING.columns]
        assert line == [*expected, RUN_ID]
    by_id = {line[0]: dict(zip(rows[0], line, strict=True)) for line in rows[1:]}
    assert by_id["C-1"]["Patient_Name__c"] == 'O"NEIL, "JJ", JR'
    assert by_id["C-2"]["MR_Number__c"] == "cr\rlf\r\nend"
    assert by_id["C-3"]["Patient_Name__c"] == "Ñúñez, José 李 😀"
    assert by_id["C-3"]["Claim_Payor__c"] == NULL
    assert by_id["C-3"]["Payor_Mapping_Status__c"] == "Unmapped"
    assert by_id["C-4"]["Charged_Amount__c"] == NULL
    assert by_id["C-4"]["Patient_Id__c"] == NULL
    assert by_id["C-4"]["Paid__c"] == "false"
    assert all(value != "" for line in rows for value in line)  # empty would be ignored on update


def test_quoting_is_minimal_and_lines_end_with_lf() -> None:
    document = write([make("C-1", PaymentCheck='say "hi"', PrimaryAuth="x,y")])
    text = document.decode("utf-8")
    assert "\r\n" not in text
    assert text.count("\n") == 2
    line = text.splitlines()[1]
    assert '"say ""hi"""' in line
    assert '"x,y"' in line
    assert line.startswith("C-1,C-1,")  # plain values are not quoted
    assert line.endswith(f",{RUN_ID}")


def test_bulk_csv_forms_of_typed_values() -> None:
    row = dict(zip(header(MAPPING), read(write([make("C-1", PaymentReceived="2/1/2024")]))[1], strict=True))
    assert row["Charged_Amount__c"] == "1867.99"
    assert row["Service_Start_Date__c"] == "2024-01-02"
    assert row["Source_Updated_At__c"] == "2024-02-01T10:20:30.456Z"
    assert row["Paid__c"] == "true"
    assert row["Paid_Date__c"] == "2024-02-01"


def test_run_id_must_fit_the_run_field() -> None:
    with pytest.raises(ValueError, match="run_id must be 1 to 80 characters"):
        write_bulk_csv([], MAPPING, "r" * 81, io.BytesIO())
    with pytest.raises(ValueError, match="run_id"):
        write_bulk_csv([], MAPPING, "", io.BytesIO())


# -------------------------------------------------------------------------------------------- ordering


def test_sort_groups_rows_by_parent_payor_unmapped_first() -> None:
    records = [
        make("B", "P2"),
        make("Z", "NONE"),
        make("A", "P2"),
        make("C", "P1"),
        make("A0", "NONE"),
        make("B1", "P1"),
    ]
    ordered = sort_for_bulk(records)
    assert [(r.payor_record_id, r.claim_number) for r in ordered] == [
        (None, "A0"),
        (None, "Z"),
        ("a0B000000000001AAA", "B1"),
        ("a0B000000000001AAA", "C"),
        ("a0B000000000002AAA", "A"),
        ("a0B000000000002AAA", "B"),
    ]
    lookup_column = header(MAPPING).index("Claim_Payor__c")
    parents = [line[lookup_column] for line in read(write(ordered))[1:]]
    assert parents == [NULL, NULL, *["a0B000000000001AAA"] * 2, *["a0B000000000002AAA"] * 2]


# ------------------------------------------------------------------------------------ unique external ids


@pytest.mark.parametrize(
    "claim_ids", [["CLM-A", "CLM-B", "CLM-A"], ["clm-abc", "CLM-ABC"], ["C-X", "C-Y", "C-Z", "C-Y", "C-X"]]
)
def test_a_repeated_external_id_is_refused_before_anything_is_written(claim_ids: list[str]) -> None:
    records = [make(claim_id) for claim_id in claim_ids]
    out = io.BytesIO()
    with pytest.raises(DuplicateExternalIdError) as caught:
        write_bulk_csv(records, MAPPING, RUN_ID, out)
    assert out.getvalue() == b""
    assert all(claim_id not in str(caught.value) for claim_id in claim_ids)  # no ids in messages


PLAIN = str.maketrans({",": ".", '"': "'", "\n": " ", "\r": " "})


def test_a_line_is_what_the_csv_writer_writes_whatever_the_values() -> None:
    # The usual line is joined without the writer (no value to quote); every other goes through it.
    # Either way the text is the writer's own, checked on values made of every character that matters.
    import random

    from claimsync.bulk_csv import BulkRows

    rows = BulkRows(MAPPING, RUN_ID)
    alphabet = ["a", "Z", "0", " ", ",", '"', "\n", "\r", "\t", "é", "😀", "#", "N/A", ""]
    generator = random.Random(11)
    width = len(MAPPING.columns)
    plain = 0
    for case in range(2_000):
        values = [
            None
            if generator.random() < 0.2
            else "".join(generator.choices(alphabet, k=generator.randint(1, 6)))
            for _ in range(width)
        ]
        if case % 3 == 0:  # a third with plain values only: the joined path
            values = [None if v is None else v.translate(PLAIN) for v in values]
        expected = io.StringIO()
        csv.writer(expected, lineterminator="\n").writerow(
            [NULL if v is None else v for v in values] + [RUN_ID]
        )
        assert rows.line(values) == expected.getvalue()
        plain += '"' not in expected.getvalue()
    assert plain >= 600  # the joined path was taken (a value to quote always brings a quote)
