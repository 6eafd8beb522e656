"""The CollaborateMD claims generator: determinism, the column set, value formats and exact shares.

The checks re-derive everything from the rows with their own small parsers (not the generator's), and
compare with what the generator says it produced.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections import Counter

import pytest

from local.collaboratemd_emulator.generator import (
    COLUMNS,
    MALFORMED_KINDS,
    MAPPED_PAYERS,
    PAYERS,
    GeneratorSettings,
    generate_report,
    generate_rows,
    mutate_rows,
)

pytestmark = pytest.mark.unit

EXPECTED_COLUMNS = [
    "ClaimID", "PateintNameID", "PatientReference", "PayerID", "ClaimPrimaryPayerName", "PrimaryAuth",
    "StatementCoversFromDate", "StatementCoversToDate", "ClaimFromDate", "ClaimDateEntered",
    "ClaimLastBilledDate", "ClaimTotalAmount", "ClaimAmountPaid", "ClaimBalance", "PaymentReceived",
    "PaymentCheck", "ClaimReference", "UniqueKey", "createdAt", "updatedAt",
]  # fmt: skip
DATE_COLUMNS = ("StatementCoversFromDate", "StatementCoversToDate", "ClaimFromDate", "ClaimDateEntered")
AMOUNT_COLUMNS = ("ClaimTotalAmount", "ClaimAmountPaid", "ClaimBalance")
MAPPED_IDS = {payer_id for payer_id, _ in MAPPED_PAYERS}

DATE_FORMS = {
    "MM/DD/YYYY": re.compile(r"^\d{2}/\d{2}/\d{4}$"),
    "M/D/YYYY": re.compile(r"^(?!\d{2}/\d{2}/)\d{1,2}/\d{1,2}/\d{4}$"),
    "YYYY-MM-DD": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "ISO": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"),
}
AMOUNT = re.compile(r"^(?P<neg>-)?\$?(?P<whole>\d{1,3}(,\d{3})*|\d+)(\.(?P<frac>\d{1,2}))?$")


def parse_date(text: str) -> dt.date | None:
    try:
        if "/" in text:
            month, day, year = (int(part) for part in text.split("/"))
            return dt.date(year, month, day)
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def cents(text: str) -> int | None:
    negative = text.startswith("(") and text.endswith(")")
    match = AMOUNT.match(text[1:-1] if negative else text)
    if not match:
        return None
    value = int(match["whole"].replace(",", "")) * 100 + int(((match["frac"] or "") + "00")[:2])
    return -value if negative or match["neg"] else value


def malformed_kind(row: dict[str, str]) -> str | None:
    if not row["ClaimID"]:
        return "missing_claim_id"
    if len(row["ClaimID"]) > 50:
        return "long_claim_id"
    if any(parse_date(row[c]) is None for c in DATE_COLUMNS):
        return "impossible_date"
    if any(cents(row[c]) is None for c in AMOUNT_COLUMNS):
        return "garbage_amount"
    start, end = parse_date(row["StatementCoversFromDate"]), parse_date(row["StatementCoversToDate"])
    assert start and end
    if end < start:
        return "end_before_start"
    if len(row["PateintNameID"]) > 255:
        return "long_patient_name"
    return None


@pytest.fixture(scope="module")
def big() -> list[dict[str, str]]:
    return generate_rows(GeneratorSettings(claims=20_000, seed=11))


def test_same_settings_give_byte_identical_rows() -> None:
    settings = GeneratorSettings(claims=2_000, seed=5)
    assert json.dumps(generate_rows(settings)) == json.dumps(
        generate_rows(GeneratorSettings(claims=2_000, seed=5))
    )
    assert generate_rows(settings) != generate_rows(GeneratorSettings(claims=2_000, seed=6))


def test_columns_exactly_and_all_text(big: list[dict[str, str]]) -> None:
    assert list(COLUMNS) == EXPECTED_COLUMNS
    assert all(list(row) == EXPECTED_COLUMNS for row in big)
    assert all(isinstance(value, str) for row in big for value in row.values())


def test_payer_catalog() -> None:
    assert 20 <= len(PAYERS) <= 30
    assert len({payer_id for payer_id, _ in PAYERS}) == len(PAYERS)
    assert len({name for _, name in PAYERS}) == len(PAYERS)
    assert set(MAPPED_PAYERS) < set(PAYERS)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(
    ("claims", "malformed", "duplicate", "unmapped"),
    [(20_000, 0.02, 0.01, 0.05), (3_000, 0.1, 0.05, 0.2), (500, 0.0, 0.0, 0.0)],
)
def test_shares(seed: int, claims: int, malformed: float, duplicate: float, unmapped: float) -> None:
    settings = GeneratorSettings(
        claims=claims,
        seed=seed,
        malformed_share=malformed,
        duplicate_share=duplicate,
        unmapped_share=unmapped,
    )
    report = generate_report(settings)
    rows = report.rows
    assert len(rows) == claims

    seen: dict[str, int] = {}
    duplicates: list[int] = []
    for index, row in enumerate(rows):
        claim_id = row["ClaimID"]
        if claim_id and claim_id in seen:
            duplicates.append(index)
            earlier = rows[seen[claim_id]]
            assert row != earlier  # some values changed
            assert row["ClaimTotalAmount"] == earlier["ClaimTotalAmount"]
        seen.setdefault(claim_id, index)
    detected = {i: kind for i, row in enumerate(rows) if (kind := malformed_kind(row))}
    unmapped_rows = [i for i, row in enumerate(rows) if row["PayerID"] not in MAPPED_IDS]

    # the sizes are exact (round(claims * share)); a tolerance would only hide drift
    assert len(detected) == round(claims * malformed)
    assert len(duplicates) == round(claims * duplicate)
    assert len(unmapped_rows) == round(claims * unmapped)
    assert detected == report.malformed
    assert duplicates == report.duplicates
    assert unmapped_rows == report.unmapped
    if detected:
        counts = Counter(detected.values())
        assert set(counts) == set(MALFORMED_KINDS)
        assert max(counts.values()) - min(counts.values()) <= 1  # an even mix


def test_duplicates_can_be_far_from_the_original(big: list[dict[str, str]]) -> None:
    first: dict[str, int] = {}
    distances = []
    for index, row in enumerate(big):
        if row["ClaimID"] in first:
            distances.append(index - first[row["ClaimID"]])
        first.setdefault(row["ClaimID"], index)
    assert max(distances) > len(big) // 4


def test_valid_rows_are_consistent(big: list[dict[str, str]]) -> None:
    valid = [row for row in big if malformed_kind(row) is None]
    assert len(valid) > 0.95 * len(big)
    for row in valid:
        total, paid, balance = (cents(row[c]) for c in AMOUNT_COLUMNS)
        assert total is not None and paid is not None and balance is not None
        assert balance == total - paid
        assert (row["PaymentReceived"] == "") == (paid == 0)
        assert (row["PaymentCheck"] == "") == (paid == 0)
        assert re.match(r"^[A-Z]+, [A-Z]+ \(\d+\)$", row["PateintNameID"])
        assert DATE_FORMS["ISO"].match(row["createdAt"]) and DATE_FORMS["ISO"].match(row["updatedAt"])
        assert row["ClaimID"].isdigit()


def test_formats_are_mixed(big: list[dict[str, str]]) -> None:
    dates = Counter(
        name for row in big for name, form in DATE_FORMS.items() if form.match(row["StatementCoversFromDate"])
    )
    assert all(dates[name] > 0.05 * len(big) for name in DATE_FORMS), dates
    amounts = [row["ClaimTotalAmount"] for row in big]
    assert any(a.startswith("$") and "," in a for a in amounts)
    assert any(re.fullmatch(r"\d+", a) for a in amounts)  # 1000
    assert any(re.fullmatch(r"\d+\.\d", a) for a in amounts)  # 1000.5
    assert any(re.fullmatch(r"\d+\.\d\d", a) for a in amounts)  # 1000.50
    assert any(re.fullmatch(r"\(\d[\d,]*\.\d\d\)", row["ClaimBalance"]) for row in big)  # (25.00)
    assert any(row["PaymentReceived"] == "" for row in big)


def test_mutate_rows_is_deterministic_and_consistent(big: list[dict[str, str]]) -> None:
    original = copy.deepcopy(big)
    new_rows, changed = mutate_rows(big, 0.01, seed=4)
    assert big == original  # the input is untouched
    assert mutate_rows(big, 0.01, seed=4) == (new_rows, changed)
    assert mutate_rows(big, 0.01, seed=5)[1] != changed

    counts = Counter(row["ClaimID"] for row in big)
    valid = [row for row in big if 0 < len(row["ClaimID"]) <= 50 and counts[row["ClaimID"]] == 1]
    valid = [row for row in valid if cents(row["ClaimTotalAmount"]) is not None]
    assert len(changed) == round(len(valid) * 0.01)

    differing = [new["ClaimID"] for old, new in zip(big, new_rows, strict=True) if old != new]
    assert differing == changed
    payment_columns = {"ClaimAmountPaid", "ClaimBalance", "PaymentReceived", "PaymentCheck", "updatedAt"}
    by_id = {row["ClaimID"]: row for row in big}
    for row in new_rows:
        if row["ClaimID"] not in set(changed):
            continue
        old = by_id[row["ClaimID"]]
        assert {c for c in EXPECTED_COLUMNS if row[c] != old[c]} <= payment_columns
        assert (
            row["ClaimAmountPaid"] != old["ClaimAmountPaid"]
            or row["PaymentReceived"] != old["PaymentReceived"]
        )
        total, paid, balance = (cents(row[c]) for c in AMOUNT_COLUMNS)
        assert total is not None and paid is not None and balance == total - paid
        assert parse_date(row["PaymentReceived"]) is not None


def test_mutate_rows_edge_cases() -> None:
    assert mutate_rows([], 0.5, seed=1) == ([], [])
    rows = generate_rows(GeneratorSettings(claims=10, seed=1, malformed_share=0, duplicate_share=0))
    assert len(mutate_rows(rows, 0.001, seed=1)[1]) == 1  # a positive share changes at least one claim
    assert mutate_rows(rows, 0, seed=1) == (rows, [])
    with pytest.raises(ValueError):
        mutate_rows(rows, 1.5, seed=1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"claims": -1},
        {"claims": 1.5},
        {"seed": "x"},
        {"malformed_share": -0.1},
        {"duplicate_share": 1.1},
        {"malformed_share": 0.5, "duplicate_share": 0.3, "unmapped_share": 0.3},
    ],
)
def test_invalid_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        GeneratorSettings(**kwargs)  # type: ignore[arg-type]


def test_tiny_reports() -> None:
    assert generate_rows(GeneratorSettings(claims=0)) == []
    assert len(generate_rows(GeneratorSettings(claims=1))) == 1
