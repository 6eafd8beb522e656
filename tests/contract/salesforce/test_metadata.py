"""The sfdx metadata under salesforce/ and how the emulator reads it."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from local.salesforce_emulator.metadata import MetadataError, load_schema
from local.salesforce_emulator.server import DEFAULT_METADATA_DIR

pytestmark = pytest.mark.contract

NS = "{http://soap.sforce.com/2006/04/metadata}"
OBJECTS = DEFAULT_METADATA_DIR / "force-app" / "main" / "default" / "objects"


def test_schema_matches_the_data_model() -> None:
    schema = load_schema(DEFAULT_METADATA_DIR)
    claim = schema.object("Claim__c")
    assert claim is not None
    key = claim.field("Claim_Number__c")
    assert key is not None and (key.type, key.length, key.external_id, key.unique) == (
        "string",
        50,
        True,
        True,
    )
    name = claim.field("Name")
    assert name is not None and name.length == 80
    payor = claim.field("Claim_Payor__c")
    assert payor is not None and (payor.reference_to, payor.relationship_name) == (
        "Claim_Payor__c",
        "Claim_Payor__r",
    )
    status = claim.field("Payor_Mapping_Status__c")
    assert status is not None and status.restricted and status.picklist_values == ("Mapped", "Unmapped")
    amount = claim.field("Charged_Amount__c")
    assert amount is not None and (amount.type, amount.precision, amount.scale) == ("currency", 16, 2)
    updated = claim.field("Source_Updated_At__c")
    assert updated is not None and updated.type == "datetime"
    assert len([f for f in claim.fields.values() if f.is_custom]) == 22
    mapping = schema.object("Payor_Mapping__c")
    assert mapping is not None
    active = mapping.field("Active__c")
    assert active is not None and active.default is True
    cmd_id = mapping.field("CMD_Payer_Id__c")
    assert cmd_id is not None and cmd_id.external_id and cmd_id.unique
    prefixes = {o.key_prefix for o in schema.objects.values()}
    assert len(prefixes) == len(schema.objects)


def test_custom_fields_on_standard_objects_are_loaded() -> None:
    schema = load_schema(DEFAULT_METADATA_DIR)
    for name in ("Account", "Contact", "Opportunity"):
        obj = schema.object(name)
        assert obj is not None and obj.key_prefix in ("001", "003", "006")
        key = obj.field("Claimsync_Request_Key__c")
        assert key is not None and (key.type, key.length, key.external_id, key.unique) == (
            "string",
            64,
            True,
            True,
        )
        assert obj.field("Name") is not None  # the standard fields are still there


def test_permission_set_covers_every_custom_field() -> None:
    path = (
        DEFAULT_METADATA_DIR
        / "force-app/main/default/permissionsets/Claimsync_Integration.permissionset-meta.xml"
    )
    root = ET.parse(path).getroot()  # noqa: S314 - repository file
    granted = {fp.findtext(NS + "field") for fp in root.findall(NS + "fieldPermissions")}
    declared = {
        f"{p.parent.parent.name}.{p.name.removesuffix('.field-meta.xml')}"
        for p in OBJECTS.glob("*/fields/*.xml")
    }
    assert granted == declared
    objects = {op.findtext(NS + "object") for op in root.findall(NS + "objectPermissions")}
    assert objects == {"Claim__c", "Claim_Payor__c", "Payor_Mapping__c"}


def test_unknown_field_type_is_a_clear_load_error(tmp_path: Path) -> None:
    copy = tmp_path / "salesforce"
    shutil.copytree(DEFAULT_METADATA_DIR, copy)
    field = copy / "force-app/main/default/objects/Claim__c/fields/Weird__c.field-meta.xml"
    field.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">\n'
        "    <fullName>Weird__c</fullName><label>Weird</label><type>Geolocation</type>\n"
        "</CustomField>\n"
    )
    with pytest.raises(MetadataError, match=r"Weird__c.*'Geolocation' is not supported"):
        load_schema(copy)
