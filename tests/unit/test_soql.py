"""The emulator's SOQL engine: parsing, type checks, WHERE/ORDER BY/LIMIT/OFFSET semantics, shaping."""

# ruff: noqa: S608 - the tests build SOQL (not SQL) from fixed fragments on purpose

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.salesforce_emulator.schema import FieldDef, ObjectDef, Schema
from local.salesforce_emulator.soql import CompiledQuery, QueryResult, SoqlError, compile_query

pytestmark = pytest.mark.unit

API = "59.0"


def _id(prefix: str, n: int) -> str:
    return f"{prefix}{n:012d}AAA"


def _schema() -> Schema:
    schema = Schema()
    account = ObjectDef("Account", "001", "Account")
    for f in (
        FieldDef("Id", "id", length=18),
        FieldDef("Name", "string", length=255),
        FieldDef("Industry", "picklist", picklist_values=("Technology", "Healthcare", "Banking")),
        FieldDef("AnnualRevenue", "currency", precision=18, scale=0),
        FieldDef("NumberOfEmployees", "int", precision=8, scale=0),
        FieldDef("IsActive__c", "boolean", default=False),
        FieldDef("CreatedDate", "datetime"),
    ):
        account.add(f)
    payor = ObjectDef("Claim_Payor__c", "a02", "Claim Payor")
    for f in (FieldDef("Id", "id", length=18), FieldDef("Name", "string", length=80)):
        payor.add(f)
    claim = ObjectDef("Claim__c", "a01", "Claim")
    for f in (
        FieldDef("Id", "id", length=18),
        FieldDef("Name", "string", length=80),
        FieldDef("Claim_Number__c", "string", length=40, external_id=True, unique=True),
        FieldDef("Balance__c", "currency", precision=16, scale=2),
        FieldDef("Service_Start_Date__c", "date"),
        FieldDef("Paid__c", "boolean", default=False),
        FieldDef(
            "Claim_Payor__c",
            "reference",
            length=18,
            reference_to="Claim_Payor__c",
            relationship_name="Claim_Payor__r",
        ),
    ):
        claim.add(f)
    for o in (account, payor, claim):
        schema.add(o)
    return schema


SCHEMA = _schema()

ACCOUNTS: list[dict[str, Any]] = [
    {"Id": _id("001", 1), "Name": "Acme", "Industry": "Technology", "AnnualRevenue": 1000000.0,
     "NumberOfEmployees": 100, "IsActive__c": True, "CreatedDate": "2024-01-31T10:00:00.000+0000"},
    {"Id": _id("001", 2), "Name": "acme labs", "Industry": "Healthcare", "AnnualRevenue": 250000.0,
     "NumberOfEmployees": 20, "IsActive__c": False, "CreatedDate": "2024-02-01T00:00:00.000+0000"},
    {"Id": _id("001", 3), "Name": "Globex", "Industry": None, "AnnualRevenue": None,
     "NumberOfEmployees": None, "IsActive__c": True, "CreatedDate": "2023-12-31T23:30:00.000+0000"},
    {"Id": _id("001", 4), "Name": "Initech", "Industry": "Technology", "AnnualRevenue": 5000.5,
     "NumberOfEmployees": 5, "IsActive__c": None, "CreatedDate": "2024-01-31T09:59:59.000+0000"},
    {"Id": _id("001", 5), "Name": "O'Brien \\ Sons", "Industry": "Banking", "AnnualRevenue": -10.0,
     "NumberOfEmployees": 0, "IsActive__c": False, "CreatedDate": "2024-03-01T12:00:00.000+0000"},
    {"Id": _id("001", 6), "Name": "100%_Pure", "Industry": None, "AnnualRevenue": 0.0,
     "NumberOfEmployees": None, "IsActive__c": True, "CreatedDate": "2024-01-01T00:00:00.000+0000"},
]  # fmt: skip
PAYORS: list[dict[str, Any]] = [
    {"Id": _id("a02", 1), "Name": "Aetna"},
    {"Id": _id("a02", 2), "Name": "Blue Cross"},
]
CLAIMS: list[dict[str, Any]] = [
    {"Id": _id("a01", 1), "Name": "C-1", "Claim_Number__c": "CLM-001", "Balance__c": 100.0,
     "Service_Start_Date__c": "2024-01-15", "Paid__c": False, "Claim_Payor__c": _id("a02", 1)},
    {"Id": _id("a01", 2), "Name": "C-2", "Claim_Number__c": "CLM-002", "Balance__c": 0.0,
     "Service_Start_Date__c": "2024-02-01", "Paid__c": True, "Claim_Payor__c": _id("a02", 2)},
    {"Id": _id("a01", 3), "Name": "C-3", "Claim_Number__c": "clm-003", "Balance__c": None,
     "Service_Start_Date__c": None, "Paid__c": False, "Claim_Payor__c": None},
    {"Id": _id("a01", 4), "Name": "C-4", "Claim_Number__c": "CLM-004", "Balance__c": 55.25,
     "Service_Start_Date__c": "2023-12-31", "Paid__c": True, "Claim_Payor__c": _id("a02", 1)},
    {"Id": _id("a01", 5), "Name": "C-5", "Claim_Number__c": "CLM-005", "Balance__c": 999.99,
     "Service_Start_Date__c": "2024-01-31", "Paid__c": False, "Claim_Payor__c": _id("a02", 99)},
]  # fmt: skip
DATA: dict[str, list[dict[str, Any]]] = {"Account": ACCOUNTS, "Claim_Payor__c": PAYORS, "Claim__c": CLAIMS}


def _fetch(data: dict[str, list[dict[str, Any]]]) -> Callable[[ObjectDef], Iterable[dict[str, Any]]]:
    def fetch(obj: ObjectDef) -> Iterable[dict[str, Any]]:
        return iter(data.get(obj.name, []))

    return fetch


def run(query: str, data: dict[str, list[dict[str, Any]]] | None = None) -> QueryResult:
    return compile_query(query, SCHEMA).execute(_fetch(DATA if data is None else data), API)


def names(query: str) -> list[str]:
    return [r["Name"] for r in run(query).records]


def error(query: str) -> SoqlError:
    with pytest.raises(SoqlError) as info:
        compile_query(query, SCHEMA)
    return info.value


# ---------------------------------------------------------------------------------------------- SELECT


def test_compiled_query_and_record_shape() -> None:
    compiled = compile_query("select name, ID, industry from account where name = 'Acme'", SCHEMA)
    assert isinstance(compiled, CompiledQuery)
    assert compiled.sobject.name == "Account" and not compiled.is_count
    result = compiled.execute(_fetch(DATA), API)
    assert result.total_size == 1
    assert result.records == [
        {
            "attributes": {
                "type": "Account",
                "url": f"/services/data/v59.0/sobjects/Account/{_id('001', 1)}",
            },
            "Name": "Acme",
            "Id": _id("001", 1),
            "Industry": "Technology",
        }
    ]
    assert list(result.records[0]) == ["attributes", "Name", "Id", "Industry"]  # SELECT order


def test_values_keep_their_types() -> None:
    rec = run(
        "SELECT AnnualRevenue, NumberOfEmployees, IsActive__c, CreatedDate FROM Account WHERE Name = 'Acme'"
    ).records[0]
    assert rec["AnnualRevenue"] == 1000000.0 and rec["NumberOfEmployees"] == 100
    assert rec["IsActive__c"] is True and rec["CreatedDate"] == "2024-01-31T10:00:00.000+0000"


def test_api_version_with_leading_v_is_accepted() -> None:
    result = compile_query("SELECT Id FROM Account LIMIT 1", SCHEMA).execute(_fetch(DATA), "v60.0")
    assert result.records[0]["attributes"]["url"].startswith("/services/data/v60.0/sobjects/Account/")


def test_parent_relationship_fields_are_nested() -> None:
    result = run(
        "SELECT Claim_Number__c, claim_payor__r.name, Balance__c, Claim_Payor__r.Id FROM Claim__c "
        "ORDER BY Claim_Number__c"
    )
    first = result.records[0]
    assert list(first) == ["attributes", "Claim_Number__c", "Claim_Payor__r", "Balance__c"]
    assert first["Claim_Payor__r"] == {
        "attributes": {
            "type": "Claim_Payor__c",
            "url": f"/services/data/v59.0/sobjects/Claim_Payor__c/{_id('a02', 1)}",
        },
        "Name": "Aetna",
        "Id": _id("a02", 1),
    }
    by_number = {r["Claim_Number__c"]: r for r in result.records}
    assert by_number["clm-003"]["Claim_Payor__r"] is None  # empty lookup
    assert by_number["CLM-005"]["Claim_Payor__r"] is None  # dangling lookup
    assert by_number["CLM-002"]["Claim_Payor__r"]["Name"] == "Blue Cross"


def test_parent_fields_in_where_and_order_by() -> None:
    assert names("SELECT Name FROM Claim__c WHERE Claim_Payor__r.Name = 'aetna' ORDER BY Name") == [
        "C-1",
        "C-4",
    ]
    assert names("SELECT Name FROM Claim__c WHERE Claim_Payor__r.Name = null ORDER BY Name") == ["C-3", "C-5"]
    assert names("SELECT Name FROM Claim__c WHERE Claim_Payor__r.Name LIKE 'blue%'") == ["C-2"]
    assert names("SELECT Name FROM Claim__c ORDER BY Claim_Payor__r.Name DESC, Name") == [
        "C-2",
        "C-1",
        "C-4",
        "C-3",
        "C-5",
    ]


def test_id_only_object_and_id_synthesised_when_schema_lacks_it() -> None:
    schema = Schema()
    bare = ObjectDef("Bare__c", "a09")
    bare.add(FieldDef("Label__c", "string"))
    schema.add(bare)
    rows = {"Bare__c": [{"Id": _id("a09", 1), "Label__c": "x"}]}
    result = compile_query("SELECT Id, Label__c FROM Bare__c WHERE Id != null", schema).execute(
        _fetch(rows), API
    )
    assert result.records[0]["Id"] == _id("a09", 1)


# ----------------------------------------------------------------------------------------------- COUNT


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT COUNT() FROM Account", 6),
        ("select count() from Account where Industry = 'technology'", 2),
        ("SELECT COUNT() FROM Account WHERE Industry = null", 2),
        ("SELECT COUNT() FROM Claim__c WHERE Claim_Payor__r.Name = 'Aetna'", 2),
        ("SELECT COUNT() FROM Account LIMIT 4", 4),
        ("SELECT COUNT() FROM Account WHERE Name = 'nobody'", 0),
    ],
)
def test_count(query: str, expected: int) -> None:
    compiled = compile_query(query, SCHEMA)
    assert compiled.is_count
    result = compiled.execute(_fetch(DATA), API)
    assert result.total_size == expected and result.records == []


# ----------------------------------------------------------------------------------------------- WHERE

WHERE_CASES: list[tuple[str, set[str]]] = [
    # text: case-insensitive equality, != includes nulls (two-valued logic), ordering on upper case
    ("Name = 'acme'", {"Acme"}),
    ("Name = 'ACME LABS'", {"acme labs"}),
    ("Name != 'acme'", {"acme labs", "Globex", "Initech", "O'Brien \\ Sons", "100%_Pure"}),
    ("Name <> 'acme'", {"acme labs", "Globex", "Initech", "O'Brien \\ Sons", "100%_Pure"}),
    ("Industry = 'Technology'", {"Acme", "Initech"}),
    ("Industry != 'Technology'", {"acme labs", "Globex", "O'Brien \\ Sons", "100%_Pure"}),
    ("Industry = null", {"Globex", "100%_Pure"}),
    ("Industry != null", {"Acme", "acme labs", "Initech", "O'Brien \\ Sons"}),
    ("Industry < 'healthcare'", {"O'Brien \\ Sons"}),
    ("Industry <= 'healthcare'", {"O'Brien \\ Sons", "acme labs"}),
    ("Industry > 'HEALTHCARE'", {"Acme", "Initech"}),
    ("Industry >= 'Healthcare'", {"Acme", "Initech", "acme labs"}),
    ("Industry IN ('technology', 'Banking')", {"Acme", "Initech", "O'Brien \\ Sons"}),
    ("Industry NOT IN ('Technology')", {"acme labs", "Globex", "O'Brien \\ Sons", "100%_Pure"}),
    ("Industry IN ('Banking', null)", {"Globex", "100%_Pure", "O'Brien \\ Sons"}),
    ("Industry NOT IN ('Banking', null)", {"Acme", "acme labs", "Initech"}),
    # LIKE: % and _, case-insensitive, escapes
    ("Name LIKE 'acme%'", {"Acme", "acme labs"}),
    ("Name LIKE '%E%'", {"Acme", "acme labs", "Globex", "Initech", "O'Brien \\ Sons", "100%_Pure"}),
    ("Name LIKE 'a_me'", {"Acme"}),
    ("Name LIKE '_lobex'", {"Globex"}),
    ("Name LIKE '%\\%\\_%'", {"100%_Pure"}),
    ("Name LIKE '100\\%%'", {"100%_Pure"}),
    ("Name LIKE 'o\\'brien%'", {"O'Brien \\ Sons"}),
    ("Name LIKE '%\\\\%'", {"O'Brien \\ Sons"}),
    ("Industry LIKE 'tech%'", {"Acme", "Initech"}),
    ("NOT Name LIKE 'acme%'", {"Globex", "Initech", "O'Brien \\ Sons", "100%_Pure"}),
    # string escapes
    ("Name = 'O\\'Brien \\\\ Sons'", {"O'Brien \\ Sons"}),
    ("Name = 'Acme\\n'", set()),
    # numbers (currency / int), negatives and decimals; nulls fail ordering comparisons
    ("AnnualRevenue > 5000", {"Acme", "acme labs", "Initech"}),
    ("AnnualRevenue >= 5000.5", {"Acme", "acme labs", "Initech"}),
    ("AnnualRevenue < 0", {"O'Brien \\ Sons"}),
    ("AnnualRevenue <= -10", {"O'Brien \\ Sons"}),
    ("AnnualRevenue = -10.0", {"O'Brien \\ Sons"}),
    ("AnnualRevenue = 0", {"100%_Pure"}),
    ("AnnualRevenue != 0", {"Acme", "acme labs", "Globex", "Initech", "O'Brien \\ Sons"}),
    ("AnnualRevenue = null", {"Globex"}),
    ("AnnualRevenue IN (0, 5000.5, 7)", {"100%_Pure", "Initech"}),
    ("NumberOfEmployees >= 20", {"Acme", "acme labs"}),
    ("NumberOfEmployees = 0", {"O'Brien \\ Sons"}),
    ("NumberOfEmployees < 10", {"Initech", "O'Brien \\ Sons"}),
    ("NumberOfEmployees NOT IN (0, 5)", {"Acme", "acme labs", "Globex", "100%_Pure"}),
    ("NumberOfEmployees > +50", {"Acme"}),
    # booleans: null is false
    ("IsActive__c = true", {"Acme", "Globex", "100%_Pure"}),
    ("IsActive__c = FALSE", {"acme labs", "Initech", "O'Brien \\ Sons"}),
    ("IsActive__c != true", {"acme labs", "Initech", "O'Brien \\ Sons"}),
    ("IsActive__c = null", {"acme labs", "Initech", "O'Brien \\ Sons"}),
    ("IsActive__c != null", {"Acme", "Globex", "100%_Pure"}),
    ("IsActive__c IN (false)", {"acme labs", "Initech", "O'Brien \\ Sons"}),
    # datetimes, incl. offsets and fractional seconds
    ("CreatedDate > 2024-01-31T09:59:59Z", {"Acme", "acme labs", "O'Brien \\ Sons"}),
    ("CreatedDate >= 2024-01-31T09:59:59Z", {"Acme", "acme labs", "Initech", "O'Brien \\ Sons"}),
    ("CreatedDate = 2024-01-31T10:00:00.000Z", {"Acme"}),
    ("CreatedDate = 2024-01-31T12:00:00+02:00", {"Acme"}),
    ("CreatedDate = 2024-01-31T05:00:00-05:00", {"Acme"}),
    ("CreatedDate < 2024-01-01T01:00:00+01:00", {"Globex"}),
    ("CreatedDate <= 2024-01-01T01:00:00+01:00", {"Globex", "100%_Pure"}),
    ("CreatedDate IN (2024-01-01T00:00:00Z, 2024-03-01T12:00:00Z)", {"100%_Pure", "O'Brien \\ Sons"}),
    (
        "CreatedDate != 2024-01-31T10:00:00Z",
        {"acme labs", "Globex", "Initech", "O'Brien \\ Sons", "100%_Pure"},
    ),
    # ids: 18 or 15 characters
    (f"Id = '{_id('001', 2)}'", {"acme labs"}),
    (f"Id = '{_id('001', 2)[:15]}'", {"acme labs"}),
    (f"Id IN ('{_id('001', 1)}', '{_id('001', 3)[:15]}')", {"Acme", "Globex"}),
    (f"Id != '{_id('001', 1)}' AND Id > '{_id('001', 4)}'", {"O'Brien \\ Sons", "100%_Pure"}),
    # logic
    ("Industry = 'Technology' AND AnnualRevenue > 10000", {"Acme"}),
    ("Industry = 'Banking' OR AnnualRevenue = null OR Name = 'acme'", {"O'Brien \\ Sons", "Globex", "Acme"}),
    (
        "(Industry = 'Technology' OR Industry = 'Banking') AND NumberOfEmployees < 50",
        {"Initech", "O'Brien \\ Sons"},
    ),
    (
        "Industry = 'Technology' OR (Industry = null AND IsActive__c = true)",
        {"Acme", "Initech", "Globex", "100%_Pure"},
    ),
    ("NOT Industry = 'Technology'", {"acme labs", "Globex", "O'Brien \\ Sons", "100%_Pure"}),
    ("NOT (Industry = 'Technology' OR Industry = null)", {"acme labs", "O'Brien \\ Sons"}),
    ("NOT NOT Name = 'Acme'", {"Acme"}),
    ("NOT AnnualRevenue > 0 AND IsActive__c = true", {"Globex", "100%_Pure"}),
    ("((Name = 'Acme'))", {"Acme"}),
]


@pytest.mark.parametrize(("where", "expected"), WHERE_CASES)
def test_where_on_account(where: str, expected: set[str]) -> None:
    assert set(names(f"SELECT Name FROM Account WHERE {where}")) == expected


CLAIM_WHERE_CASES: list[tuple[str, set[str]]] = [
    ("Service_Start_Date__c = 2024-01-31", {"C-5"}),
    ("Service_Start_Date__c > 2024-01-15", {"C-2", "C-5"}),
    ("Service_Start_Date__c <= 2024-01-15", {"C-1", "C-4"}),
    ("Service_Start_Date__c != 2024-01-15", {"C-2", "C-3", "C-4", "C-5"}),
    ("Service_Start_Date__c = null", {"C-3"}),
    ("Service_Start_Date__c IN (2023-12-31, 2024-02-01)", {"C-2", "C-4"}),
    ("Balance__c >= 55.25 AND Paid__c = false", {"C-1", "C-5"}),
    ("Balance__c < 100", {"C-2", "C-4"}),
    ("Claim_Number__c = 'CLM-003'", {"C-3"}),
    ("Claim_Number__c IN ('clm-001', 'CLM-002')", {"C-1", "C-2"}),
    (f"Claim_Payor__c = '{_id('a02', 1)}'", {"C-1", "C-4"}),
    ("Claim_Payor__c = null", {"C-3"}),
    (f"Claim_Payor__c != '{_id('a02', 1)}'", {"C-2", "C-3", "C-5"}),
    (f"Claim_Payor__c NOT IN ('{_id('a02', 1)}', null)", {"C-2", "C-5"}),
    ("Claim_Payor__r.Name != 'Aetna'", {"C-2", "C-3", "C-5"}),
    ("Claim_Payor__r.Name IN ('Aetna', 'Blue Cross') AND Paid__c = true", {"C-2", "C-4"}),
]


@pytest.mark.parametrize(("where", "expected"), CLAIM_WHERE_CASES)
def test_where_on_claim(where: str, expected: set[str]) -> None:
    assert set(names(f"SELECT Name FROM Claim__c WHERE {where}")) == expected


def test_keywords_are_case_insensitive_and_whitespace_free() -> None:
    assert names("sElEcT nAmE fRoM aCcOuNt wHeRe nAmE lIkE 'glob%' oRdEr By NaMe AsC nUlLs LaSt LiMiT 1") == [
        "Globex"
    ]
    assert names("SELECT Name\nFROM Account\n\tWHERE Name='Acme'") == ["Acme"]


# ---------------------------------------------------------------------------------------- ORDER BY etc.


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("Name", ["100%_Pure", "Acme", "acme labs", "Globex", "Initech", "O'Brien \\ Sons"]),
        ("Name DESC", ["O'Brien \\ Sons", "Initech", "Globex", "acme labs", "Acme", "100%_Pure"]),
        ("AnnualRevenue", ["Globex", "O'Brien \\ Sons", "100%_Pure", "Initech", "acme labs", "Acme"]),
        ("AnnualRevenue ASC NULLS LAST", ["O'Brien \\ Sons", "100%_Pure", "Initech", "acme labs", "Acme", "Globex"]),
        ("AnnualRevenue DESC", ["Acme", "acme labs", "Initech", "100%_Pure", "O'Brien \\ Sons", "Globex"]),
        ("AnnualRevenue DESC NULLS FIRST", ["Globex", "Acme", "acme labs", "Initech", "100%_Pure", "O'Brien \\ Sons"]),
        ("Industry NULLS LAST, Name DESC", ["O'Brien \\ Sons", "acme labs", "Initech", "Acme", "Globex", "100%_Pure"]),
        ("Industry DESC, Name", ["Acme", "Initech", "acme labs", "O'Brien \\ Sons", "100%_Pure", "Globex"]),
        ("IsActive__c, Name", ["acme labs", "Initech", "O'Brien \\ Sons", "100%_Pure", "Acme", "Globex"]),
        ("CreatedDate", ["Globex", "100%_Pure", "Initech", "Acme", "acme labs", "O'Brien \\ Sons"]),
        ("NumberOfEmployees DESC NULLS LAST, Id DESC", ["Acme", "acme labs", "Initech", "O'Brien \\ Sons",
                                                        "100%_Pure", "Globex"]),
    ],
)  # fmt: skip
def test_order_by(order: str, expected: list[str]) -> None:
    assert names(f"SELECT Name FROM Account ORDER BY {order}") == expected


def test_order_by_date_and_field_not_selected() -> None:
    result = run("SELECT Id FROM Claim__c ORDER BY Service_Start_Date__c DESC")
    assert [r["Id"][-6:-3] for r in result.records] == ["002", "005", "001", "004", "003"]
    assert list(result.records[0]) == ["attributes", "Id"]


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("LIMIT 2", ["100%_Pure", "Acme"]),
        ("LIMIT 0", []),
        ("LIMIT 100", ["100%_Pure", "Acme", "acme labs", "Globex", "Initech", "O'Brien \\ Sons"]),
        ("LIMIT 2 OFFSET 1", ["Acme", "acme labs"]),
        ("OFFSET 4", ["Initech", "O'Brien \\ Sons"]),
        ("LIMIT 3 OFFSET 5", ["O'Brien \\ Sons"]),
        ("OFFSET 2000", []),
    ],
)
def test_limit_and_offset(tail: str, expected: list[str]) -> None:
    result = run(f"SELECT Name FROM Account ORDER BY Name {tail}")
    assert [r["Name"] for r in result.records] == expected
    assert result.total_size == len(expected)


def test_without_order_by_rows_keep_fetch_order() -> None:
    assert names("SELECT Name FROM Account WHERE IsActive__c = true") == ["Acme", "Globex", "100%_Pure"]


def test_compiled_query_is_reusable_over_new_data() -> None:
    compiled = compile_query("SELECT Name FROM Claim_Payor__c WHERE Name LIKE 'a%'", SCHEMA)
    assert compiled.execute(_fetch(DATA), API).total_size == 1
    more = {"Claim_Payor__c": [*PAYORS, {"Id": _id("a02", 3), "Name": "Anthem"}]}
    assert compiled.execute(_fetch(more), API).total_size == 2


# ---------------------------------------------------------------------------------------------- errors

MALFORMED = [
    "",
    "   ",
    "SELECT FROM Account",
    "SELECT Id Account",
    "SELECT Id FROM",
    "SELECT Id FROM Account WHERE",
    "SELECT Id FROM Account junk",
    "SELECT Id FROM Account LIMIT 5 extra",
    "SELECT Id FROM Account, Claim__c",
    "SELECT Id,, Name FROM Account",
    "SELECT Id, Name, name FROM Account",
    "SELECT Claim_Payor__r.Name, CLAIM_PAYOR__R.NAME FROM Claim__c",
    "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
    "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)",
    "SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry",
    "SELECT Id FROM Account GROUP BY Id",
    "SELECT COUNT(Id) FROM Account",
    "SELECT MAX(AnnualRevenue) FROM Account",
    "SELECT toLabel(Industry) FROM Account",
    "SELECT FIELDS(ALL) FROM Account LIMIT 200",
    "SELECT COUNT(), Name FROM Account",
    "SELECT COUNT() FROM Account ORDER BY Name",
    "SELECT TYPEOF What WHEN Account THEN Name END FROM Account",
    "SELECT Id FROM Account WHERE CreatedDate = TODAY",
    "SELECT Id FROM Account WHERE CreatedDate > LAST_N_DAYS:30",
    "SELECT Id FROM Account WHERE Name = SomeWord",
    "SELECT Id FROM Account WHERE CALENDAR_YEAR(CreatedDate) = 2024",
    "SELECT Id FROM Account FOR UPDATE",
    "SELECT Id FROM Account WITH SECURITY_ENFORCED",
    "SELECT Id FROM Account USING SCOPE mine",
    "SELECT Id FROM Account ALL ROWS",
    "SELECT Id FROM Account WHERE Name = 'a' AND Industry = 'b' OR IsActive__c = true",
    "SELECT Id FROM Account WHERE Name = 'a' OR Industry = 'b' AND IsActive__c = true",
    "SELECT Id FROM Account WHERE (Name = 'a' OR Industry = 'b') AND IsActive__c = true OR Name = 'c'",
    "SELECT Id FROM Account OFFSET 2001",
    "SELECT Id FROM Account LIMIT -1",
    "SELECT Id FROM Account LIMIT 1.5",
    "SELECT Id FROM Account ORDER BY Name LIMIT 5 OFFSET 1 OFFSET 2",
    "SELECT Id FROM Account OFFSET 1 LIMIT 5",
    "SELECT Id FROM Account ORDER BY Name ASC DESC",
    "SELECT Id FROM Account ORDER BY",
    "SELECT Id FROM Account WHERE Name = :name",
    "SELECT Id FROM Account WHERE Name = 'unterminated",
    'SELECT Id FROM Account WHERE Name = "double"',
    "SELECT Id FROM Account WHERE Name = 'bad \\q escape'",
    "SELECT Id FROM Account WHERE Name = 'like only \\%'",
    "SELECT Id FROM Account WHERE AnnualRevenue > null",
    "SELECT Id FROM Account WHERE Name LIKE null",
    "SELECT Id FROM Account WHERE Name IN ()",
    "SELECT Id FROM Account WHERE Name IN 'a'",
    "SELECT Id FROM Account WHERE (Name = 'a'",
    "SELECT Id FROM Account WHERE Name = 'a')",
    "SELECT Id FROM Account WHERE Name == 'a'",
    "SELECT Id FROM Account WHERE Name",
    "SELECT Id FROM Account WHERE CreatedDate > 2024-02-30T00:00:00Z",
    "SELECT Id FROM Claim__c WHERE Service_Start_Date__c = 2024-13-01",
    "SELECT Id FROM Account WHERE CreatedDate > 2024-01-01T00:00:00.1234Z",
    "SELECT Id FROM Claim__c WHERE Claim_Payor__r.Owner.Name = 'x'",
    "SELECT Id FROM Account WHERE Industry INCLUDES ('a')",
    "SELECT Id FROM Account WHERE Name = 'a' # comment",
    "DELETE FROM Account",
    "UPDATE Account SET Name = 'x'",
    "SELECT Id FROM Account; SELECT Id FROM Account",
    "FIND {Acme} RETURNING Account",
]


@pytest.mark.parametrize("query", MALFORMED)
def test_malformed_and_unsupported_queries(query: str) -> None:
    err = error(query)
    assert err.error_code == "MALFORMED_QUERY", err.message
    assert err.message


INVALID_FIELD = [
    "SELECT Foo FROM Account",
    "SELECT Id FROM Account WHERE Foo__c = 1",
    "SELECT Id FROM Account ORDER BY Foo",
    "SELECT Bogus__r.Name FROM Claim__c",
    "SELECT Claim_Payor__r.Bogus__c FROM Claim__c",
    "SELECT Claim_Payor__r FROM Claim__c",
    "SELECT Name.Id FROM Account",
    "SELECT Id FROM Claim__c WHERE Service_Start_Date__c = '2024-01-01'",
    "SELECT Id FROM Claim__c WHERE Service_Start_Date__c = 2024-01-31T00:00:00Z",
    "SELECT Id FROM Account WHERE CreatedDate = 2024-01-31",
    "SELECT Id FROM Account WHERE CreatedDate = '2024-01-31T00:00:00Z'",
    "SELECT Id FROM Claim__c WHERE Balance__c = '5'",
    "SELECT Id FROM Account WHERE NumberOfEmployees IN (1, '2')",
    "SELECT Id FROM Account WHERE Name = 5",
    "SELECT Id FROM Account WHERE Name = true",
    "SELECT Id FROM Claim__c WHERE Paid__c = 'true'",
    "SELECT Id FROM Claim__c WHERE Paid__c = 1",
    "SELECT Id FROM Claim__c WHERE Paid__c > false",
    "SELECT Id FROM Claim__c WHERE Balance__c LIKE '5%'",
    "SELECT Id FROM Claim__c WHERE Claim_Payor__c LIKE 'a02%'",
    "SELECT Id FROM Account WHERE Name LIKE 5",
    "SELECT Id FROM Account WHERE Id = 'abc'",
]


@pytest.mark.parametrize("query", INVALID_FIELD)
def test_invalid_field(query: str) -> None:
    err = error(query)
    assert err.error_code == "INVALID_FIELD", err.message


@pytest.mark.parametrize(
    "query", ["SELECT Id FROM Foo__c", "SELECT Id FROM Accounts", "SELECT COUNT() FROM x"]
)
def test_invalid_type(query: str) -> None:
    err = error(query)
    assert err.error_code == "INVALID_TYPE"


def test_error_messages_read_like_salesforce() -> None:
    assert error("SELECT Id FROM Foo__c").message.startswith("sObject type 'Foo__c' is not supported.")
    assert error("SELECT Bar FROM account").message.startswith(
        "No such column 'Bar' on entity 'Account'. If you are attempting to use a custom field, be sure to "
        "append the '__c' after the custom field name."
    )
    assert error("SELECT Foo__r.Name FROM Claim__c").message.startswith(
        "Didn't understand relationship 'Foo__r' in field path."
    )
    assert error("SELECT Name, NAME FROM Account").message == "duplicate field selected: Name"
    assert error("SELECT Id FROM Claim__c WHERE Service_Start_Date__c = '2024-01-01'").message == (
        "value of filter criterion for field 'Service_Start_Date__c' must be of type date and should not be "
        "enclosed in quotes"
    )
    assert (
        "must be of type string and should be enclosed in quotes"
        in error("SELECT Id FROM Account WHERE Name = 1").message
    )
    assert "dateTime" in error("SELECT Id FROM Account WHERE CreatedDate = 2024-01-01").message
    assert "GROUP BY" in error("SELECT Id FROM Account GROUP BY Id").message
    assert "Subqueries" in error("SELECT Id, (SELECT Id FROM Contacts) FROM Account").message
    assert "TODAY" in error("SELECT Id FROM Account WHERE CreatedDate = TODAY").message
    assert "COUNT()" in error("SELECT MAX(AnnualRevenue) FROM Account").message
    assert (
        "parentheses" in error("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'").message
    )
    assert "2000" in error("SELECT Id FROM Account OFFSET 2001").message
    assert error("SELECT Id FROM Account junk").message == "unexpected token: 'junk'"
    assert error("SELECT Id FROM").message == "unexpected end of query"


def test_soql_error_is_an_exception_with_code_and_message() -> None:
    err = SoqlError("INVALID_FIELD", "boom")
    assert isinstance(err, Exception) and err.error_code == "INVALID_FIELD" and err.message == "boom"


# ---------------------------------------------------------------------------------- property: WHERE


_TEXT_ALPHABET = "abAB'\\ %_"
_OPS = ["=", "!=", "<", "<=", ">", ">="]


def _soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _like_matches(value: str, pattern: str) -> bool:
    """Straightforward recursive LIKE matcher (case-insensitive; % any run, _ one character)."""
    v, p = value.upper(), pattern.upper()

    def go(i: int, j: int) -> bool:
        if j == len(p):
            return i == len(v)
        if p[j] == "%":
            return any(go(k, j + 1) for k in range(i, len(v) + 1))
        if i < len(v) and (p[j] == "_" or p[j] == v[i]):
            return go(i + 1, j + 1)
        return False

    return go(0, 0)


def _compare(left: Any, op: str, right: Any) -> bool:
    return bool(
        {
            "=": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[op]
    )


_Filter = tuple[str, Callable[[dict[str, Any]], bool]]


@st.composite
def _numeric_leaf(draw: st.DrawFn) -> _Filter:
    op = draw(st.sampled_from([*_OPS, "in", "not in", "null"]))
    if op == "null":
        negate = draw(st.booleans())
        text = f"Balance__c {'!=' if negate else '='} null"
        return text, lambda row: (row["Balance__c"] is not None) == negate
    numbers = st.one_of(st.integers(-50, 50), st.decimals(-50, 50, places=2).map(float))
    if op in {"in", "not in"}:
        values = draw(st.lists(numbers, min_size=1, max_size=4))
        text = f"Balance__c {op.upper()} ({', '.join(str(v) for v in values)})"

        def member(row: dict[str, Any]) -> bool:
            v = row["Balance__c"]
            found = v is not None and any(v == x for x in values)
            return found if op == "in" else not found

        return text, member
    value = draw(numbers)

    def numeric(row: dict[str, Any]) -> bool:
        v = row["Balance__c"]
        if v is None:
            return op == "!="
        return _compare(v, op, value)

    return f"Balance__c {op} {value}", numeric


@st.composite
def _text_leaf(draw: st.DrawFn) -> _Filter:
    op = draw(st.sampled_from([*_OPS, "like", "in", "not in"]))
    value = draw(st.text(_TEXT_ALPHABET, max_size=4))
    if op == "like":
        pattern = draw(st.text("abAB%_", max_size=4))

        def like(row: dict[str, Any]) -> bool:
            v = row["Claim_Number__c"]
            return v is not None and _like_matches(v, pattern)

        return f"Claim_Number__c LIKE '{pattern}'", like
    if op in {"in", "not in"}:
        values = [value, *draw(st.lists(st.text(_TEXT_ALPHABET, max_size=3), max_size=3))]
        text = f"Claim_Number__c {op.upper()} ({', '.join(_soql_string(v) for v in values)})"

        def member(row: dict[str, Any]) -> bool:
            v = row["Claim_Number__c"]
            found = v is not None and v.upper() in {x.upper() for x in values}
            return found if op == "in" else not found

        return text, member

    def textual(row: dict[str, Any]) -> bool:
        v = row["Claim_Number__c"]
        if v is None:
            return op == "!="
        return _compare(v.upper(), op, value.upper())

    return f"Claim_Number__c {op} {_soql_string(value)}", textual


def _combine(children: st.SearchStrategy[_Filter]) -> st.SearchStrategy[_Filter]:
    def both(kind: str) -> st.SearchStrategy[_Filter]:
        def build(pair: tuple[_Filter, _Filter]) -> _Filter:
            (ta, fa), (tb, fb) = pair
            if kind == "AND":
                return f"({ta} AND {tb})", lambda row: fa(row) and fb(row)
            return f"({ta} OR {tb})", lambda row: fa(row) or fb(row)

        return st.tuples(children, children).map(build)

    def negate(child: _Filter) -> _Filter:
        text, fn = child
        return f"NOT ({text})", lambda row: not fn(row)

    return st.one_of(both("AND"), both("OR"), children.map(negate))


_FILTERS = st.recursive(st.one_of(_numeric_leaf(), _text_leaf()), _combine, max_leaves=6)
_ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "Balance__c": st.one_of(
                st.none(), st.integers(-50, 50).map(float), st.decimals(-50, 50, places=2).map(float)
            ),
            "Claim_Number__c": st.one_of(st.none(), st.text(_TEXT_ALPHABET, max_size=4)),
        }
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_ROWS, flt=_FILTERS)
def test_where_matches_a_python_predicate(rows: list[dict[str, Any]], flt: _Filter) -> None:
    data = [{"Id": _id("a01", i), **row} for i, row in enumerate(rows)]
    text, predicate = flt
    result = run(f"SELECT Id FROM Claim__c WHERE {text}", {"Claim__c": data})
    assert [r["Id"] for r in result.records] == [row["Id"] for row in data if predicate(row)]


@settings(max_examples=100, deadline=None)
@given(rows=_ROWS, descending=st.booleans(), nulls_first=st.booleans())
def test_order_by_matches_python_sort(
    rows: list[dict[str, Any]], descending: bool, nulls_first: bool
) -> None:
    data = [{"Id": _id("a01", i), **row} for i, row in enumerate(rows)]
    query = (
        f"SELECT Id, Balance__c FROM Claim__c ORDER BY Balance__c {'DESC' if descending else 'ASC'} "
        f"NULLS {'FIRST' if nulls_first else 'LAST'}"
    )
    got = [r["Balance__c"] for r in run(query, {"Claim__c": data}).records]
    present = sorted((r["Balance__c"] for r in data if r["Balance__c"] is not None), reverse=descending)
    nulls = [None] * (len(data) - len(present))
    assert got == (nulls + present if nulls_first else present + nulls)


def test_like_pattern_metacharacters_are_literal() -> None:
    data = {
        "Claim__c": [
            {"Id": _id("a01", 1), "Claim_Number__c": "a.c"},
            {"Id": _id("a01", 2), "Claim_Number__c": "abc"},
        ]
    }
    result = run("SELECT Claim_Number__c FROM Claim__c WHERE Claim_Number__c LIKE 'a.c'", data)
    assert [r["Claim_Number__c"] for r in result.records] == ["a.c"]
