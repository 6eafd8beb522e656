"""Building the Bulk upload from the pages' CSV parts (claimsync.sync), without Salesforce."""

import csv
import io

import pytest

from claimsync.bulk_csv import DuplicateExternalIdError, header
from claimsync.mapping import load_mapping
from claimsync.sync import _csv_documents, _merged_rows

pytestmark = pytest.mark.unit
MAPPING = load_mapping()
COLS = header(MAPPING)


def row(claim: str, payor: str = "#N/A") -> list[str]:
    values = {c: "#N/A" for c in COLS}
    values.update({MAPPING.external_id_field: claim, "Name": claim, MAPPING.payor.lookup_field: payor})
    return [values[c] for c in COLS]


def test_parts_merge_in_bulk_order_parent_then_claim():
    parts = [[row("3"), row("1", "a01B")], [row("2"), row("0", "a01A")]]
    merged = [r[COLS.index(MAPPING.external_id_field)] for r in _merged_rows(parts, MAPPING)]
    assert merged == ["2", "3", "0", "1"], "unmapped (#N/A) first, then each parent's rows together"


def test_documents_respect_the_size_limit_and_repeat_the_header():
    rows = [row(f"C{i:04d}") for i in range(50)]
    docs = list(_csv_documents(rows, MAPPING, max_bytes=1_500))
    assert len(docs) > 1 and all(len(d) <= 1_500 for d in docs)
    parsed = [list(csv.reader(io.StringIO(d.decode()))) for d in docs]
    assert all(p[0] == COLS for p in parsed)
    assert sum(len(p) - 1 for p in parsed) == 50


@pytest.mark.parametrize("again", ["C1", "c1", " C1"[1:]])
def test_an_external_id_repeated_anywhere_in_the_upload_stops_it(again):
    rows = [row("C1"), *(row(f"X{i}") for i in range(30)), row(again)]
    with pytest.raises(DuplicateExternalIdError) as caught:
        list(_csv_documents(rows, MAPPING, max_bytes=1_000))
    assert "C1" not in str(caught.value)


def test_a_record_larger_than_a_job_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        list(_csv_documents([row("C1")], MAPPING, max_bytes=len(",".join(COLS)) + 5))
