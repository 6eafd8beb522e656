"""Build the emulator's ``Schema``: standard objects declared here, custom objects read from sfdx metadata.

The custom objects come from ``<metadata_dir>/force-app/main/default/objects/<Object>/`` (the same
files ``sf project deploy start`` deploys), so the emulator and the real org cannot drift; a
directory named like a standard object (``objects/Account/fields/``) adds custom fields to it. A metadata
field type the emulator does not model is a load-time error naming the file, never a silent skip.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET  # the metadata is our own repository's files, not untrusted input
from pathlib import Path

from local.salesforce_emulator.schema import FieldDef, ObjectDef, Schema

_NS = "{http://soap.sforce.com/2006/04/metadata}"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

STANDARD_STAGES: tuple[str, ...] = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
INDUSTRIES: tuple[str, ...] = (
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Other",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
)
ACCOUNT_TYPES: tuple[str, ...] = (
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
)
OPPORTUNITY_TYPES: tuple[str, ...] = (
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
    "New Customer",
)
LEAD_SOURCES: tuple[str, ...] = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")


class MetadataError(ValueError):
    """The sfdx metadata cannot be turned into a schema (unknown field type, missing element, ...)."""


def system_fields() -> list[FieldDef]:
    """Fields every object has; none of them can be written through the API."""
    return [
        FieldDef("Id", "id", "Record ID", length=18, createable=False, updateable=False),
        FieldDef("IsDeleted", "boolean", "Deleted", createable=False, updateable=False, default=False),
        FieldDef("CreatedDate", "datetime", "Created Date", createable=False, updateable=False),
        FieldDef("LastModifiedDate", "datetime", "Last Modified Date", createable=False, updateable=False),
        FieldDef("SystemModstamp", "datetime", "System Modstamp", createable=False, updateable=False),
    ]


def _standard_objects() -> list[ObjectDef]:
    def text(name: str, label: str, length: int = 255, **kw: object) -> FieldDef:
        return FieldDef(name, "string", label, length=length, **kw)  # type: ignore[arg-type]

    account = ObjectDef("Account", "001", "Account")
    for f in (
        text("Name", "Account Name", 255, required=True),
        FieldDef("Phone", "phone", "Account Phone", length=40),
        FieldDef("Fax", "phone", "Account Fax", length=40),
        FieldDef("Website", "url", "Website", length=255),
        FieldDef("Industry", "picklist", "Industry", length=255, picklist_values=INDUSTRIES),
        FieldDef("Type", "picklist", "Account Type", length=255, picklist_values=ACCOUNT_TYPES),
        text("AccountNumber", "Account Number", 40),
        FieldDef("BillingStreet", "textarea", "Billing Street", length=255),
        text("BillingCity", "Billing City", 40),
        text("BillingState", "Billing State/Province", 80),
        text("BillingPostalCode", "Billing Zip/Postal Code", 20),
        text("BillingCountry", "Billing Country", 80),
        FieldDef("AnnualRevenue", "currency", "Annual Revenue", precision=18, scale=0),
        FieldDef("NumberOfEmployees", "int", "Employees", precision=8, scale=0),
        FieldDef("Description", "textarea", "Account Description", length=32000),
    ):
        account.add(f)

    contact = ObjectDef("Contact", "003", "Contact")
    for f in (
        text("FirstName", "First Name", 40),
        text("LastName", "Last Name", 80, required=True),
        text("Name", "Full Name", 121, createable=False, updateable=False),
        FieldDef("Email", "email", "Email", length=80),
        FieldDef("Phone", "phone", "Business Phone", length=40),
        FieldDef("MobilePhone", "phone", "Mobile Phone", length=40),
        text("Title", "Title", 128),
        text("Department", "Department", 80),
        FieldDef(
            "AccountId",
            "reference",
            "Account ID",
            length=18,
            reference_to="Account",
            relationship_name="Account",
        ),
        FieldDef("MailingStreet", "textarea", "Mailing Street", length=255),
        text("MailingCity", "Mailing City", 40),
        text("MailingState", "Mailing State/Province", 80),
        text("MailingPostalCode", "Mailing Zip/Postal Code", 20),
        text("MailingCountry", "Mailing Country", 80),
        FieldDef("Birthdate", "date", "Birthdate"),
        FieldDef("LeadSource", "picklist", "Lead Source", length=255, picklist_values=LEAD_SOURCES),
        FieldDef("Description", "textarea", "Contact Description", length=32000),
    ):
        contact.add(f)

    opportunity = ObjectDef("Opportunity", "006", "Opportunity")
    for f in (
        text("Name", "Name", 120, required=True),
        FieldDef(
            "StageName", "picklist", "Stage", length=255, required=True, picklist_values=STANDARD_STAGES
        ),
        FieldDef("CloseDate", "date", "Close Date", required=True),
        FieldDef("Amount", "currency", "Amount", precision=18, scale=2),
        FieldDef("Probability", "percent", "Probability (%)", precision=3, scale=0),
        FieldDef(
            "AccountId",
            "reference",
            "Account ID",
            length=18,
            reference_to="Account",
            relationship_name="Account",
        ),
        FieldDef("Type", "picklist", "Opportunity Type", length=255, picklist_values=OPPORTUNITY_TYPES),
        FieldDef("LeadSource", "picklist", "Lead Source", length=255, picklist_values=LEAD_SOURCES),
        text("NextStep", "Next Step", 255),
        FieldDef("Description", "textarea", "Description", length=32000),
    ):
        opportunity.add(f)
    return [account, contact, opportunity]


def _text(el: ET.Element, tag: str) -> str | None:
    child = el.find(_NS + tag)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _flag(el: ET.Element, tag: str) -> bool:
    return (_text(el, tag) or "false").lower() == "true"


def _int(el: ET.Element, tag: str, where: Path) -> int:
    value = _text(el, tag)
    if value is None or not value.isdigit():
        raise MetadataError(f"{where}: <{tag}> must be a whole number, found {value!r}")
    return int(value)


def _parse_field(path: Path) -> FieldDef:
    root = ET.parse(path).getroot()  # noqa: S314 - repository metadata, not untrusted input
    if root.tag != _NS + "CustomField":
        raise MetadataError(f"{path}: expected a <CustomField> document, found <{root.tag}>")
    name = _text(root, "fullName") or path.name.removesuffix(".field-meta.xml")
    if name != path.name.removesuffix(".field-meta.xml"):
        raise MetadataError(f"{path}: fullName {name!r} does not match the file name")
    label = _text(root, "label") or name
    mtype = _text(root, "type")
    common = {
        "label": label,
        "required": _flag(root, "required"),
        "external_id": _flag(root, "externalId"),
        "unique": _flag(root, "unique"),
    }
    if mtype == "Text":
        return FieldDef(name, "string", length=_int(root, "length", path), **common)  # type: ignore[arg-type]
    if mtype in ("TextArea",):
        return FieldDef(name, "textarea", length=255, **common)  # type: ignore[arg-type]
    if mtype in ("LongTextArea", "Html"):
        return FieldDef(name, "textarea", length=_int(root, "length", path), **common)  # type: ignore[arg-type]
    if mtype == "Email":
        return FieldDef(name, "email", length=80, **common)  # type: ignore[arg-type]
    if mtype == "Phone":
        return FieldDef(name, "phone", length=40, **common)  # type: ignore[arg-type]
    if mtype == "Url":
        return FieldDef(name, "url", length=255, **common)  # type: ignore[arg-type]
    if mtype == "Checkbox":
        default = (_text(root, "defaultValue") or "false").lower() == "true"
        return FieldDef(name, "boolean", label=label, default=default)
    if mtype in ("Number", "Currency", "Percent"):
        precision = _int(root, "precision", path)
        scale = _int(root, "scale", path)
        ftype = {"Number": "double", "Currency": "currency", "Percent": "percent"}[mtype]
        return FieldDef(name, ftype, precision=precision, scale=scale, **common)  # type: ignore[arg-type]
    if mtype == "Date":
        return FieldDef(name, "date", **common)  # type: ignore[arg-type]
    if mtype == "DateTime":
        return FieldDef(name, "datetime", **common)  # type: ignore[arg-type]
    if mtype == "Picklist":
        value_set = root.find(_NS + "valueSet")
        if value_set is None:
            raise MetadataError(f"{path}: a Picklist needs a <valueSet>")
        definition = value_set.find(_NS + "valueSetDefinition")
        values: list[str] = []
        if definition is not None:
            for value in definition.findall(_NS + "value"):
                full_name = _text(value, "fullName")
                if full_name:
                    values.append(full_name)
        return FieldDef(
            name,
            "picklist",
            length=255,
            picklist_values=tuple(values),
            restricted=_flag(value_set, "restricted"),
            **common,  # type: ignore[arg-type]
        )
    if mtype in ("Lookup", "MasterDetail"):
        target = _text(root, "referenceTo")
        if not target:
            raise MetadataError(f"{path}: a {mtype} field needs <referenceTo>")
        if not _text(root, "relationshipName"):
            raise MetadataError(f"{path}: a {mtype} field needs <relationshipName>")
        # The XML relationshipName is the parent's child-relationship name ("Claims"); the name a
        # query uses from the child side is the field name with __r, which is what describe reports.
        common["required"] = common["required"] or mtype == "MasterDetail"
        return FieldDef(
            name,
            "reference",
            length=18,
            reference_to=target,
            relationship_name=name.removesuffix("__c") + "__r",
            **common,  # type: ignore[arg-type]
        )
    raise MetadataError(f"{path}: field type {mtype!r} is not supported by the Salesforce emulator")


def custom_key_prefix(object_name: str, taken: set[str]) -> str:
    """A stable ``a0X`` key prefix derived from the object name (so ids survive metadata additions)."""
    digest = int.from_bytes(hashlib.sha256(object_name.encode()).digest()[:4], "big") % 62
    for step in range(62 * 62):
        n = (digest + step) % (62 * 62)
        prefix = "a" + _BASE62[n // 62] + _BASE62[n % 62]
        if prefix not in taken:
            return prefix
    raise MetadataError("no key prefix left")  # pragma: no cover - 3,844 custom objects


def _parse_object(directory: Path, taken: set[str]) -> ObjectDef:
    name = directory.name
    meta = directory / f"{name}.object-meta.xml"
    if not meta.is_file():
        raise MetadataError(f"{directory}: missing {meta.name}")
    root = ET.parse(meta).getroot()  # noqa: S314 - repository metadata, not untrusted input
    if root.tag != _NS + "CustomObject":
        raise MetadataError(f"{meta}: expected a <CustomObject> document")
    obj = ObjectDef(name, custom_key_prefix(name, taken), _text(root, "label") or name)
    taken.add(obj.key_prefix)
    for f in system_fields():
        obj.add(f)
    name_field = root.find(_NS + "nameField")
    if name_field is None:
        raise MetadataError(f"{meta}: missing <nameField>")
    name_type = _text(name_field, "type")
    if name_type != "Text":
        raise MetadataError(f"{meta}: nameField type {name_type!r} is not supported (only Text)")
    # A Text name is not nillable, but a create without it gets the record Id as its Name.
    obj.add(FieldDef("Name", "string", _text(name_field, "label") or "Name", length=80))
    fields_dir = directory / "fields"
    if fields_dir.is_dir():
        for path in sorted(fields_dir.glob("*.field-meta.xml")):
            obj.add(_parse_field(path))
    return obj


def load_schema(metadata_dir: Path) -> Schema:
    """The standard objects plus every custom object under ``metadata_dir`` (an sfdx project)."""
    schema = Schema()
    for obj in _standard_objects():
        for f in system_fields():
            obj.add(f)
        schema.add(obj)
    objects_dir = metadata_dir / "force-app" / "main" / "default" / "objects"
    if not objects_dir.is_dir():
        raise MetadataError(f"{objects_dir}: no objects directory (is {metadata_dir} an sfdx project?)")
    taken = {o.key_prefix for o in schema.objects.values()}
    for directory in sorted(p for p in objects_dir.iterdir() if p.is_dir()):
        standard = schema.object(directory.name)
        if standard is not None:  # custom fields on a standard object (objects/Account/fields/...)
            for path in sorted((directory / "fields").glob("*.field-meta.xml")):
                standard.add(_parse_field(path))
            continue
        schema.add(_parse_object(directory, taken))
    for obj in schema.objects.values():
        for f in obj.fields.values():
            if f.reference_to and schema.object(f.reference_to) is None:
                raise MetadataError(f"{obj.name}.{f.name} refers to unknown object {f.reference_to}")
    return schema
