"""The value rules of salesforce.md §2: money, dates, date-times, text, the patient column."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimsync import values
from claimsync.values import InvalidValue

pytestmark = pytest.mark.unit


def _code(convert: object, raw: str) -> str:
    assert callable(convert)
    with pytest.raises(InvalidValue) as caught:
        convert(raw)
    assert str(caught.value) == caught.value.code  # the message is the code: never the value
    return caught.value.code


# ---------------------------------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1000", "1000.00"),
        ("1000.5", "1000.50"),
        ("-25.50", "-25.50"),
        ("$1,867.99", "1867.99"),
        ("(25.00)", "-25.00"),
        ("($1,000.00)", "-1000.00"),
        ("-$5.00", "-5.00"),
        ("  42  ", "42.00"),
        ("\t$1.00\n", "1.00"),
        ("0", "0.00"),
        ("0.00", "0.00"),
        ("-0.00", "0.00"),
        ("(0)", "0.00"),
        ("-0.001", "0.00"),
        ("007", "7.00"),
        (".5", "0.50"),
        ("1,000", "1000.00"),
        ("1,234,567.8", "1234567.80"),
        ("1.005", "1.01"),  # ROUND_HALF_UP on the decimal value
        ("2.675", "2.68"),  # a binary float would give 2.67
        ("0.125", "0.13"),
        ("-0.125", "-0.13"),  # half-up rounds away from zero
        ("99999999999999.99", "99999999999999.99"),  # 14 integer digits: the Currency(16,2) maximum
        ("-99999999999999.99", "-99999999999999.99"),
    ],
)
def test_money_accepted(raw: str, expected: str) -> None:
    assert values.money_csv(raw) == expected
    assert values.parse_money(raw) == Decimal(expected)


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "$",
        "-",
        "()",
        "(25.00",
        "25.00)",
        "-(25.00)",
        "$-5.00",
        "--5",
        "+5",
        "1,00",
        "12,34.56",
        "1,0000",
        "1 000",
        "1.2.3",
        "1.",
        "1e3",
        "NaN",
        "Infinity",
        "5 USD",
        "€5",
        "\u0661\u0662\u0663",  # Arabic-Indic digits: Decimal() would take them
        "100000000000000",  # 15 integer digits
        "99999999999999.995",  # rounds up to 15 integer digits
    ],
)
def test_money_rejected(raw: str) -> None:
    assert _code(values.money_csv, raw) == values.INVALID_AMOUNT


@pytest.mark.parametrize("raw", ["", "   ", "\t"])
def test_money_empty_is_no_value(raw: str) -> None:
    assert values.money_csv(raw) is None
    assert values.parse_money(raw) is None


_CENTS = st.integers(min_value=-(10**16) + 1, max_value=10**16 - 1)


def _formats(cents: int) -> list[str]:
    amount = Decimal(cents).scaleb(-2)
    plain = f"{abs(amount):.2f}"
    grouped = f"{abs(amount):,.2f}"
    sign = "-" if cents < 0 else ""
    forms = [f"{sign}{plain}", f"{sign}${grouped}", f"  {sign}{grouped}  ", f"{sign}{abs(amount):,.3f}"]
    if cents < 0:
        forms += [f"({plain})", f"(${grouped})"]
    if cents % 100 == 0:
        forms.append(f"{sign}{abs(cents) // 100}")
    return forms


@given(_CENTS)
def test_money_formats_normalise_to_the_same_value(cents: int) -> None:
    expected = f"{Decimal(cents).scaleb(-2):.2f}" if cents else "0.00"
    for form in _formats(cents):
        assert values.money_csv(form) == expected, form


# ---------------------------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-02-29", "2024-02-29"),  # leap day
        ("2024-01-05", "2024-01-05"),
        ("01/05/2024", "2024-01-05"),
        ("1/5/2024", "2024-01-05"),
        ("12/31/2023", "2023-12-31"),
        ("01/5/2024", "2024-01-05"),
        (" 2024-03-01 ", "2024-03-01"),
        ("2024-01-01T00:00:00.000Z", "2024-01-01"),
        ("2024-01-01T00:00:00Z", "2024-01-01"),
        ("2024-01-01T23:30:00-05:00", "2024-01-02"),  # its UTC calendar date
        ("2024-01-01T02:00:00+05:30", "2023-12-31"),
        ("2024-01-01T00:30:00+0100", "2023-12-31"),
        ("2024-01-01T12:00:00.123456789+00:00", "2024-01-01"),
        ("2024-01-01t12:00z", "2024-01-01"),
        ("2024-01-01 12:00:00Z", "2024-01-01"),
        ("1700-01-01", "1700-01-01"),
        ("4000-12-31", "4000-12-31"),
    ],
)
def test_date_accepted(raw: str, expected: str) -> None:
    assert values.date_csv(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "02/30/2024",  # impossible
        "2023-02-29",  # not a leap year
        "2024-13-01",
        "13/01/2024",
        "00/10/2024",
        "2024-00-10",
        "2024-1-5",
        "01/05/24",
        "2024/01/05",
        "20240101",
        "2024-W01-1",
        "yesterday",
        "2024-01-01T00:00:00",  # a date-time without zone is ambiguous in a date field
        "2024-01-01T25:00:00Z",
        "2024-01-01T10:60:00Z",
        "2024-01-01T10:00:00+24:00",
        "2024-01-01T10:00:00+05:60",
        "1699-12-31",  # outside Salesforce's date range
        "4001-01-01",
        "\u0662\u0660\u0662\u0664-01-01",
    ],
)
def test_date_rejected(raw: str) -> None:
    assert _code(values.date_csv, raw) == values.INVALID_DATE


@pytest.mark.parametrize("raw", ["", "  "])
def test_date_empty_is_no_value(raw: str) -> None:
    assert values.date_csv(raw) is None
    assert values.has_date_csv(raw) == "false"


def test_has_date() -> None:
    assert values.has_date_csv("02/01/2024") == "true"
    assert values.has_date_csv("2024-02-01T10:00:00Z") == "true"
    assert _code(values.has_date_csv, "02/30/2024") == values.INVALID_DATE


@given(st.dates(min_value=date(1700, 1, 1), max_value=date(4000, 12, 31)))
def test_date_formats_normalise_to_the_same_value(day: date) -> None:
    iso = day.isoformat()
    forms = [
        iso,
        f"{day.month:02d}/{day.day:02d}/{day.year}",
        f"{day.month}/{day.day}/{day.year}",
        f"{iso}T00:00:00.000Z",
        f"{iso}T12:00:00+11:00",
        f"{iso}T12:00:00-11:00",
    ]
    for form in forms:
        assert values.date_csv(form) == iso, form


# ------------------------------------------------------------------------------------------ date-times


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z"),
        ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000Z"),
        ("2024-01-01T23:30:00-05:00", "2024-01-02T04:30:00.000Z"),
        ("2024-06-30T20:00:00.000+02:00", "2024-06-30T18:00:00.000Z"),
        ("2024-01-01T10:00:00.123456Z", "2024-01-01T10:00:00.123Z"),  # truncated, not rounded
        ("2024-01-01T10:00:00.9999Z", "2024-01-01T10:00:00.999Z"),
        ("2024-01-01T10:00:00.1Z", "2024-01-01T10:00:00.100Z"),
        ("2024-01-01T10:00Z", "2024-01-01T10:00:00.000Z"),
        ("2024-01-01 10:00:00+00", "2024-01-01T10:00:00.000Z"),
        ("2024-01-01T10:00:00", "2024-01-01T10:00:00.000Z"),  # no zone: taken as UTC
        ("2024-01-01", "2024-01-01T00:00:00.000Z"),  # a plain date: UTC midnight
        ("1/5/2024", "2024-01-05T00:00:00.000Z"),
        ("  2024-01-01T00:00:00.000Z ", "2024-01-01T00:00:00.000Z"),
    ],
)
def test_datetime_accepted(raw: str, expected: str) -> None:
    assert values.datetime_csv(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "2024-02-30T00:00:00.000Z",
        "2024-02-30T00:00:00+01:00",
        "2024-01-01T24:00:00Z",
        "2024-01-01T10:61:00Z",
        "2024-01-01T10:00:61Z",
        "2024-01-01T10:00:00+25:00",
        "4001-01-01T00:00:00.000Z",
        "1600-01-01T00:00:00Z",
        "2024-01-01T10:00:00.000ZZ",
        "nonsense",
        "1704067200",
    ],
)
def test_datetime_rejected(raw: str) -> None:
    assert _code(values.datetime_csv, raw) == values.INVALID_DATE


def test_datetime_empty_is_no_value() -> None:
    assert values.datetime_csv("  ") is None


# ----------------------------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("raw", "length", "expected"),
    [
        ("  hello  ", 5, "hello"),
        ("x" * 50, 50, "x" * 50),
        ("José Ñúñez", 10, "José Ñúñez"),
        ("日本語テキスト", 7, "日本語テキスト"),
        ("😀" * 3, 3, "😀" * 3),  # characters, not bytes
        ("", 5, None),
        (" \t\n ", 5, None),
        ('a, "b"\nc', 20, 'a, "b"\nc'),
    ],
)
def test_text_accepted(raw: str, length: int, expected: str | None) -> None:
    assert values.clean_text(raw, length) == expected
    assert values.text_converter(length)(raw) == expected


@pytest.mark.parametrize(("raw", "length"), [("x" * 51, 50), ("é" * 256, 255), ("😀" * 4, 3)])
def test_text_too_long_is_rejected_never_truncated(raw: str, length: int) -> None:
    assert _code(values.text_converter(length), raw) == values.VALUE_TOO_LONG
    assert _code(lambda r: values.clean_text(r, length), raw) == values.VALUE_TOO_LONG


def test_text_that_is_not_unicode_is_rejected() -> None:
    assert _code(values.text_converter(10), "bad\ud800") == values.INVALID_TEXT


# -------------------------------------------------------------------------------------------- patient


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("DOE, JANE (12345)", ("DOE, JANE", "12345")),
        ("DOE, JANE", ("DOE, JANE", None)),
        ("DOE, JANE ()", ("DOE, JANE", None)),
        ("(12345)", (None, "12345")),
        ("SMITH (JR), JOHN (42)", ("SMITH (JR), JOHN", "42")),
        ("  DOE, JANE  ( 7 )  ", ("DOE, JANE", "7")),
        ("DOE (A) B", ("DOE (A) B", None)),  # the parentheses are not trailing
        ("A (B) C)", ("A (B) C)", None)),
        ("MÜLLER, JÜRGEN (Ä1)", ("MÜLLER, JÜRGEN", "Ä1")),
        ("", (None, None)),
    ],
)
def test_split_patient(raw: str, expected: tuple[str | None, str | None]) -> None:
    assert values.split_patient(raw) == expected
    assert values.patient_name_converter(255)(raw) == expected[0]
    assert values.patient_id_converter(50)(raw) == expected[1]


def test_patient_parts_have_their_own_lengths() -> None:
    assert _code(values.patient_id_converter(5), "DOE (123456)") == values.VALUE_TOO_LONG
    assert values.patient_name_converter(3)("DOE (123456)") == "DOE"
    assert _code(values.patient_name_converter(2), "DOE (1)") == values.VALUE_TOO_LONG
