"""The column → field mapping: the packaged default, validation errors, header lookup, metadata."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from claimsync.mapping import Kind, MappingError
from claimsync.mapping_file import load_mapping, parse_mapping

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
DEFAULT_FILE = REPO / "lambdas" / "claimsync" / "mapping_default.json"
OBJECTS = REPO / "salesforce" / "force-app" / "main" / "default" / "objects"
CLAIM_FIELDS = OBJECTS / "Claim__c" / "fields"
MD = "{http://soap.sforce.com/2006/04/metadata}"


def default_document() -> dict[str, Any]:
    return copy.deepcopy(json.loads(DEFAULT_FILE.read_text("utf-8")))


def test_default_mapping_is_the_design_table() -> None:
    mapping = load_mapping()
    assert mapping.object_name == "Claim__c"
    assert mapping.external_id_field == "Claim_Number__c"
    assert mapping.key_rule.column == "ClaimID"
    assert mapping.key_rule.length == 50
    assert mapping.run_field.field == "Last_Sync_Run__c"
    assert mapping.payor.lookup_field == "Claim_Payor__c"
    assert mapping.payor.status_field == "Payor_Mapping_Status__c"
    assert mapping.date_range is not None
    assert (mapping.date_range.start_field, mapping.date_range.end_field) == (
        "Service_Start_Date__c",
        "Service_End_Date__c",
    )
    assert mapping.columns == (
        "Claim_Number__c",
        "Name",
        "Patient_Name__c",
        "Patient_Id__c",
        "MR_Number__c",
        "Payer_Id__c",
        "Payer_Name__c",
        "Authorization_Number__c",
        "Service_Start_Date__c",
        "Service_End_Date__c",
        "Claim_From_Date__c",
        "Submitted_Date__c",
        "Last_Billed_Date__c",
        "Charged_Amount__c",
        "Paid_Amount__c",
        "Balance__c",
        "Paid_Date__c",
        "Paid__c",
        "Payment_Reference__c",
        "Source_Updated_At__c",
        "Claim_Payor__c",
        "Payor_Mapping_Status__c",
    )
    assert "Last_Sync_Run__c" not in mapping.columns
    assert mapping.rule_for("Name").column == "ClaimID"  # never the patient's name
    assert mapping.rule_for("Paid__c").kind is Kind.HAS_DATE
    assert mapping.source_columns == (
        "ClaimID",
        "PateintNameID",
        "PatientReference",
        "PayerID",
        "ClaimPrimaryPayerName",
        "PrimaryAuth",
        "StatementCoversFromDate",
        "StatementCoversToDate",
        "ClaimFromDate",
        "ClaimDateEntered",
        "ClaimLastBilledDate",
        "ClaimTotalAmount",
        "ClaimAmountPaid",
        "ClaimBalance",
        "PaymentReceived",
        "PaymentCheck",
        "updatedAt",
    )


def test_load_from_a_file_equals_the_packaged_default(tmp_path: Path) -> None:
    path = tmp_path / "mapping.json"
    path.write_text(DEFAULT_FILE.read_text("utf-8"), "utf-8")
    assert load_mapping(path) == load_mapping()
    assert load_mapping(DEFAULT_FILE).columns == load_mapping().columns


def test_a_customised_mapping_is_honoured() -> None:
    doc = default_document()
    doc["fields"][1] = {"field": "Claim_Title__c", "column": "ClaimReference", "kind": "text", "length": 30}
    doc["date_range"] = None
    mapping = parse_mapping(doc)
    assert mapping.columns[1] == "Claim_Title__c"
    assert "ClaimReference" in mapping.source_columns
    assert mapping.date_range is None


# ------------------------------------------------------------------------------------------ validation

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[int(last) if last.isdigit() else last]

    return mutate


def _append_rule(rule: dict[str, Any]) -> Mutation:
    return lambda doc: doc["fields"].append(rule)


INVALID: list[tuple[str, Mutation, str]] = [
    ("unknown top-level key", _set("extra", 1), "mapping: unknown key(s) extra"),
    ("missing external id field", _delete("external_id_field"), "mapping: missing key(s) external_id_field"),
    ("missing fields", _delete("fields"), "missing key(s) fields"),
    ("missing payor", _delete("payor"), "missing key(s) payor"),
    ("missing run field", _delete("run_field"), "missing key(s) run_field"),
    ("fields not a list", _set("fields", {}), "fields: must be a non-empty list"),
    ("fields empty", _set("fields", []), "fields: must be a non-empty list"),
    ("rule not an object", _set("fields.3", "Patient_Id__c"), "fields[3]: must be a JSON object"),
    ("unknown rule key", _set("fields.4.default", "x"), "fields[4]: unknown key(s) default"),
    ("rule without column", _delete("fields.4.column"), "fields[4]: missing key(s) column"),
    ("rule without kind", _delete("fields.4.kind"), "fields[4]: missing key(s) kind"),
    ("unknown kind", _set("fields.13.kind", "currency"), "fields[13].kind: unknown kind 'currency'"),
    ("text without length", _delete("fields.4.length"), "fields[4]: kind text needs a length"),
    ("claim_key without length", _delete("fields.0.length"), "fields[0]: kind claim_key needs a length"),
    ("patient_name without length", _delete("fields.2.length"), "kind patient_name needs a length"),
    ("patient_id without length", _delete("fields.3.length"), "kind patient_id needs a length"),
    ("length on money", _set("fields.13.length", 16), "fields[13].length: kind money takes no length"),
    ("length zero", _set("fields.4.length", 0), "fields[4].length: must be an integer from 1"),
    ("length true", _set("fields.4.length", True), "fields[4].length: must be an integer"),
    ("length text", _set("fields.4.length", "50"), "fields[4].length: must be an integer"),
    ("empty column", _set("fields.4.column", "  "), "fields[4].column: must be a non-empty report column"),
    ("bad field name", _set("fields.4.field", "MR Number"), "fields[4].field: must be a Salesforce API name"),
    (
        "field mapped twice",
        _append_rule({"field": "Name", "column": "UniqueKey", "kind": "text", "length": 80}),
        "fields[20]: field Name is mapped twice (also at fields[1])",
    ),
    (
        "field mapped twice, other case",
        _append_rule({"field": "mr_number__c", "column": "UniqueKey", "kind": "text", "length": 80}),
        "field mr_number__c is mapped twice (also at fields[4])",
    ),
    (
        "lookup field also a rule",
        _set("payor.lookup_field", "Payer_Id__c"),
        "payor.lookup_field: field Payer_Id__c is mapped twice (also at fields[5])",
    ),
    (
        "status field also a rule",
        _set("payor.status_field", "Name"),
        "payor.status_field: field Name is mapped twice",
    ),
    (
        "run field also a rule",
        _set("run_field.field", "Claim_Payor__c"),
        "run_field: field Claim_Payor__c is mapped twice (also at payor.lookup_field)",
    ),
    ("no claim_key rule", _set("fields.0.kind", "text"), "fields: no claim_key rule"),
    (
        "two claim_key rules",
        _append_rule({"field": "Other__c", "column": "UniqueKey", "kind": "claim_key", "length": 50}),
        "fields[20]: only one claim_key rule is allowed",
    ),
    (
        "claim_key for another field",
        _set("external_id_field", "Name"),
        "fields[0]: the claim_key rule must be for the external id field Name",
    ),
    (
        "bad external id name",
        _set("external_id_field", ""),
        "external_id_field: must be a Salesforce API name",
    ),
    ("bad object name", _set("object", "Claim c"), "object: must be a Salesforce API name"),
    ("payor missing key", _delete("payor.name_column"), "payor: missing key(s) name_column"),
    ("payor unknown key", _set("payor.active_field", "Active__c"), "payor: unknown key(s) active_field"),
    ("payor not an object", _set("payor", []), "payor: must be a JSON object"),
    (
        "date range on a non-date field",
        _set("date_range.end_field", "Charged_Amount__c"),
        "date_range.end_field: Charged_Amount__c is not a field of kind date",
    ),
    (
        "date range on an unmapped field",
        _set("date_range.start_field", "Nope__c"),
        "date_range.start_field: Nope__c is not a field of kind date",
    ),
    (
        "date range on one field",
        _set("date_range.end_field", "Service_Start_Date__c"),
        "date_range: start_field and end_field must differ",
    ),
    ("date range unknown key", _set("date_range.inclusive", True), "date_range: unknown key(s) inclusive"),
    ("run field without length", _delete("run_field.length"), "run_field: missing key(s) length"),
    ("run field bad length", _set("run_field.length", -1), "run_field.length: must be an integer"),
]


@pytest.mark.parametrize(("mutate", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_mapping_is_refused_with_a_precise_message(mutate: Mutation, message: str) -> None:
    doc = default_document()
    mutate(doc)
    with pytest.raises(MappingError) as caught:
        parse_mapping(doc, "custom.json")
    assert str(caught.value).startswith("custom.json: ")
    assert message in str(caught.value)


def test_mapping_not_an_object() -> None:
    with pytest.raises(MappingError, match="mapping: must be a JSON object"):
        parse_mapping([])


def test_invalid_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "object": "Claim__c",\n  oops\n}\n', "utf-8")
    with pytest.raises(MappingError, match=r"broken\.json: invalid JSON at line 3 column 3"):
        load_mapping(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"nope\.json: cannot read the mapping file"):
        load_mapping(tmp_path / "nope.json")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"object": "Clàim"}'.encode("latin-1"))
    with pytest.raises(MappingError, match="not UTF-8"):
        load_mapping(path)


# --------------------------------------------------------------------------------------- header lookup


def test_source_columns_are_found_ignoring_case_and_surrounding_whitespace() -> None:
    mapping = load_mapping()
    row = {f"  {column.upper()} ": f"v-{column}" for column in mapping.source_columns}
    assert list(mapping.source_values(row)) == [f"v-{column}" for column in mapping.source_columns]


def test_byte_order_mark_on_the_first_header_is_ignored() -> None:
    mapping = load_mapping()
    row = {column: "x" for column in mapping.source_columns} | {"\ufeffClaimID": "C1"}
    del row["ClaimID"]
    assert mapping.source_values(row)[mapping.key_index] == "C1"


def test_exact_header_wins_over_a_case_variant() -> None:
    mapping = load_mapping()
    row = {"claimid": "lower", "ClaimID": "exact"}
    assert mapping.source_values(row)[mapping.key_index] == "exact"


def test_absent_and_null_values_read_as_empty() -> None:
    mapping = load_mapping()
    assert set(mapping.source_values({})) == {""}
    row: dict[str, Any] = {column: None for column in mapping.source_columns}
    row["ClaimTotalAmount"] = 1000  # JSON reports may carry numbers
    got = mapping.source_values(row)
    assert got[mapping.source_columns.index("ClaimTotalAmount")] == "1000"
    assert got[mapping.key_index] == ""


def test_rows_with_different_headers_are_resolved_separately() -> None:
    mapping = load_mapping()
    for i in range(200):  # more distinct headers than the resolver cache holds
        header = f"{' ' * (i % 7)}claimid{' ' * (i // 7)}"
        assert mapping.source_values({header: f"C{i}"})[mapping.key_index] == f"C{i}"


def test_absent_positions_name_the_mapped_columns_a_row_lacks() -> None:
    mapping = load_mapping()
    row = {f" {column.lower()} ": "" for column in mapping.source_columns if column != "PaymentCheck"}
    assert [mapping.source_columns[i] for i in mapping.absent_positions(row)] == ["PaymentCheck"]
    assert mapping.absent_positions({**row, "PAYMENTCHECK": ""}) == ()
    assert mapping.positions_of(["paymentcheck", "not mapped"]) == (
        mapping.source_columns.index("PaymentCheck"),
    )


# ------------------------------------------------------------------------------------ vs the metadata


def _parse(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # noqa: S314 - the repository's own metadata, not untrusted input


def _field_meta(name: str) -> ET.Element:
    path = CLAIM_FIELDS / f"{name}.field-meta.xml"
    assert path.is_file(), f"{path.relative_to(REPO)} is missing for a mapped field"
    return _parse(path)


def _text(element: ET.Element, tag: str) -> str | None:
    child = element.find(f"{MD}{tag}")
    return None if child is None else (child.text or "").strip()


EXPECTED_TYPE = {
    Kind.TEXT: "Text",
    Kind.CLAIM_KEY: "Text",
    Kind.PATIENT_NAME: "Text",
    Kind.PATIENT_ID: "Text",
    Kind.MONEY: "Currency",
    Kind.DATE: "Date",
    Kind.DATETIME: "DateTime",
    Kind.HAS_DATE: "Checkbox",
}


def test_default_mapping_matches_the_salesforce_metadata() -> None:
    assert CLAIM_FIELDS.is_dir(), "salesforce/ must ship the Claim__c metadata the mapping targets"
    mapping = load_mapping()
    for rule in mapping.rules:
        if rule.field == "Name":  # the standard name field: declared on the object, always Text(80)
            name_field = _parse(OBJECTS / "Claim__c" / "Claim__c.object-meta.xml").find(f"{MD}nameField")
            assert name_field is not None
            assert _text(name_field, "type") == "Text"
            assert rule.length == 80
            continue
        meta = _field_meta(rule.field)
        assert _text(meta, "fullName") == rule.field
        assert _text(meta, "type") == EXPECTED_TYPE[rule.kind], rule.field
        if rule.length is not None:
            assert _text(meta, "length") == str(rule.length), rule.field
        if rule.kind is Kind.MONEY:
            assert (_text(meta, "precision"), _text(meta, "scale")) == ("16", "2"), rule.field

    key = _field_meta(mapping.external_id_field)
    assert _text(key, "externalId") == "true"
    assert _text(key, "unique") == "true"
    # Claim numbers are compared ignoring case (transform.external_id_key) because of this.
    assert _text(key, "caseSensitive") in (None, "false")

    lookup = _field_meta(mapping.payor.lookup_field)
    assert _text(lookup, "type") == "Lookup"
    assert _text(lookup, "referenceTo") == "Claim_Payor__c"

    status = _field_meta(mapping.payor.status_field)
    assert _text(status, "type") == "Picklist"
    picklist = {value.findtext(f"{MD}fullName") for value in status.iter(f"{MD}value")}
    assert picklist == {"Mapped", "Unmapped"}

    run = _field_meta(mapping.run_field.field)
    assert _text(run, "type") == "Text"
    assert _text(run, "length") == str(mapping.run_field.length)
