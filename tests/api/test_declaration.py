"""One declaration per CRM object: the whole surface of an object (routes, validation, idempotent
creates, the OpenAPI document, the SOQL allowlist) is built from its ``CrmObject`` alone.

The object here, ``Visit__c``, exists only in this test: a custom object in an sfdx project written to
a temporary directory, which a Salesforce emulator of its own loads (as it loads ``salesforce/``). The
API is the real handler's ``build_app([VISIT])`` behind ``ApiServer``, called over real HTTP; nothing
else in the repository knows about visits.

The declarations the API ships (``OBJECTS``) are checked against the Salesforce metadata the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests

from claimsync.crm import OBJECTS, CrmObject, Echo, FieldRule, text_field
from claimsync.crm.routes import routes_for
from claimsync.salesforce.gateway import SalesforceGateway
from handlers import _crm_edge
from local.api_server import ApiServer
from local.salesforce_emulator.metadata import load_schema
from local.salesforce_emulator.schema import NUMBER_TYPES, TEXT_TYPES
from local.salesforce_emulator.server import DEFAULT_METADATA_DIR, SalesforceCredentials, SalesforceEmulator
from local.tls import ensure_tls
from local.world import salesforce_endpoints, salesforce_gateway
from tests.api.conftest import ok, refused

pytestmark = pytest.mark.api

JSON = {"Content-Type": "application/json"}
_OBJECT_XML = """<?xml version="1.0" encoding="UTF-8"?>
<CustomObject xmlns="http://soap.sforce.com/2006/04/metadata">
    <label>Visit</label>
    <nameField><label>Visit Name</label><type>Text</type></nameField>
    <pluralLabel>Visits</pluralLabel>
</CustomObject>
"""
_FIELD_XML = """<?xml version="1.0" encoding="UTF-8"?>
<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">
    <fullName>{name}</fullName>
    <label>{name}</label>
    {body}
</CustomField>
"""
_FIELDS = {
    "Reason__c": "<type>Text</type><length>80</length><required>true</required>",
    "Minutes__c": "<type>Number</type><precision>3</precision><scale>0</scale>",
    "Claimsync_Request_Key__c": (
        "<type>Text</type><length>64</length><externalId>true</externalId><unique>true</unique>"
    ),
}


def declare_visit(key_prefix: str) -> CrmObject:
    """The only place the API learns about visits."""
    return CrmObject(
        sobject="Visit__c",
        key_prefix=key_prefix,
        collection="visits",
        singular="visit",
        fields=(text_field("Reason__c", 80), FieldRule("Minutes__c", "integer", minimum=0, maximum=600)),
        required=("Reason__c",),
        created=(Echo("reason", ("Reason__c",)),),
    )


def write_sfdx_project(root: Path) -> Path:
    visit = root / "force-app" / "main" / "default" / "objects" / "Visit__c"
    (visit / "fields").mkdir(parents=True)
    (visit / "Visit__c.object-meta.xml").write_text(_OBJECT_XML)
    for name, body in _FIELDS.items():
        (visit / "fields" / f"{name}.field-meta.xml").write_text(_FIELD_XML.format(name=name, body=body))
    return root


@dataclass
class VisitApi:
    url: str
    visit: CrmObject
    resolver: Any  # the Powertools resolver build_app made
    server: ApiServer
    salesforce: SalesforceGateway  # a gateway of its own, to see what Salesforce holds

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.url + path, timeout=60, **kwargs)

    def visits_in_salesforce(self) -> list[dict[str, Any]]:
        soql = "SELECT Id, Reason__c, Minutes__c, Claimsync_Request_Key__c FROM Visit__c"
        return list(self.salesforce.query_all(soql))


@pytest.fixture(scope="module")
def visits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VisitApi]:
    root = tmp_path_factory.mktemp("visits")
    tls = ensure_tls(root / "tls")
    creds = SalesforceCredentials.generate()
    emulator = SalesforceEmulator(
        root / "salesforce", tls, creds, metadata_dir=write_sfdx_project(root / "sfdx")
    ).start()
    endpoints = {"state_dir": str(root), "salesforce": salesforce_endpoints(emulator.endpoints, creds, tls)}
    schema = emulator.schema.object("Visit__c")
    assert schema is not None
    visit = declare_visit(schema.key_prefix)
    resolver = _crm_edge.build_app([visit])
    server = ApiServer(endpoints, handler=resolver.resolve).start()
    try:
        yield VisitApi(server.url, visit, resolver, server, salesforce_gateway(endpoints))
    finally:
        server.stop()
        emulator.stop()


@pytest.fixture
def api(visits: VisitApi) -> VisitApi:
    """The visit API over a Salesforce without visits, its server's gateway, settings and cursor key
    installed in the handler module again (other tests' servers install theirs)."""
    visits.server.configure_handler()
    for record in visits.visits_in_salesforce():
        visits.salesforce.delete("Visit__c", record["Id"])
    return visits


# -- the surface of an object declared only here ------------------------------------------------------


def test_the_declared_routes_create_read_update_and_delete(api: VisitApi) -> None:
    created = ok(api.call("POST", "/visits", headers=JSON, json={"Reason__c": "Checkup"}), 201)
    record_id = created["record_id"]
    assert created == {"record_id": record_id, "reason": "Checkup"}  # the declared create answer
    assert record_id.startswith(api.visit.key_prefix) and len(record_id) == 18

    record = ok(api.call("GET", f"/visits/{record_id}"))
    assert (record["Id"], record["Reason__c"], record["Minutes__c"]) == (record_id, "Checkup", None)
    assert set(record) == {"Id", "Reason__c", "Minutes__c", "CreatedDate", "LastModifiedDate"}

    changed = ok(api.call("PATCH", f"/visits/{record_id}", headers=JSON, json={"Minutes__c": 45}))
    assert changed == {"record_id": record_id, "status": "updated"}
    assert ok(api.call("GET", f"/visits/{record_id[:15]}"))["Minutes__c"] == 45
    assert [r["Minutes__c"] for r in api.visits_in_salesforce()] == [45]

    deleted = ok(api.call("DELETE", f"/visits/{record_id}"))
    assert deleted == {"record_id": record_id, "status": "deleted"}
    refused(api.call("GET", f"/visits/{record_id}"), 404, "NOT_FOUND")
    assert api.visits_in_salesforce() == []


def test_routing_errors_come_from_the_declared_routes(api: VisitApi) -> None:
    account_id = "001000000000001AAA"  # a well-formed id of another object
    message = refused(api.call("GET", f"/visits/{account_id}"), 400, "INVALID_ID")
    assert api.visit.key_prefix in message
    wrong = api.call("PUT", "/visits/" + api.visit.key_prefix + "000000000001")
    refused(wrong, 405, "METHOD_NOT_ALLOWED")
    assert wrong.headers["Allow"] == "GET, PATCH, DELETE"
    refused(api.call("GET", "/accounts/" + account_id), 404, "NOT_FOUND")  # not served by this API
    refused(api.call("POST", "/batch/visits", headers=JSON, json=[{"Reason__c": "x"}]), 404, "NOT_FOUND")
    assert ok(api.call("GET", "/health"))["status"] == "healthy"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"Minutes__c": 5}, "missing required fields ['Reason__c']"),
        ({"Reason__c": 7}, "Reason__c must be a string"),
        ({"Reason__c": "x" * 81}, "Reason__c must be at most 80 characters"),
        ({"Reason__c": "x", "Minutes__c": 601}, "Minutes__c must be at most 600"),
        ({"Reason__c": "x", "Minutes__c": 1.5}, "Minutes__c must be a whole number"),
        ({"Reason__c": "x", "Colour": "red"}, "unknown fields ['Colour']"),
    ],
)
def test_validation_follows_the_declaration(api: VisitApi, body: dict[str, Any], problem: str) -> None:
    message = refused(api.call("POST", "/visits", headers=JSON, json=body), 400, "VALIDATION_ERROR")
    assert problem in message
    assert api.visits_in_salesforce() == []  # refused before Salesforce


def test_a_keyed_create_upserts_on_the_declared_request_key_field(api: VisitApi) -> None:
    headers = {**JSON, "Idempotency-Key": str(uuid.uuid4())}
    first = api.call("POST", "/visits", headers=headers, json={"Reason__c": "Follow-up"})
    again = api.call("POST", "/visits", headers=headers, json={"Reason__c": "Follow-up"})
    assert ok(first, 201) == ok(again, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    [stored] = api.visits_in_salesforce()
    assert stored["Id"] == ok(first, 201)["record_id"]
    assert len(stored["Claimsync_Request_Key__c"]) == 64


def test_the_soql_guard_allows_the_declared_object_and_only_it(api: VisitApi) -> None:
    record_id = ok(api.call("POST", "/visits", headers=JSON, json={"Reason__c": "Checkup"}), 201)["record_id"]
    page = ok(api.call("POST", "/query", headers=JSON, json={"soql": "SELECT Id, Reason__c FROM Visit__c"}))
    assert page["records"] == [{"Id": record_id, "Reason__c": "Checkup"}]
    message = refused(
        api.call("POST", "/query", headers=JSON, json={"soql": "SELECT Id FROM Account"}), 400, "QUERY_ERROR"
    )
    assert "['Visit__c']" in message


def test_the_openapi_document_describes_the_declared_object(visits: VisitApi) -> None:
    document = _crm_edge.openapi_document(visits.resolver, [visits.visit])
    assert {path: sorted(ops) for path, ops in document["paths"].items()} == {
        "/visits": ["post"],
        "/visits/{visit_id}": ["delete", "get", "patch"],
        "/query": ["post"],
        "/health": ["get"],
    }
    schemas = document["components"]["schemas"]
    create = schemas["Visit__cCreate"]
    assert create["required"] == ["Reason__c"]
    assert create["properties"]["Reason__c"] == {"type": "string", "maxLength": 80, "minLength": 1}
    assert create["properties"]["Minutes__c"]["maximum"] == 600
    assert list(schemas["Visit__cCreated"]["properties"]) == ["record_id", "reason"]
    post = document["paths"]["/visits"]["post"]
    assert post["parameters"][0]["name"] == "Idempotency-Key"
    assert "default Visit__c" in document["paths"]["/query"]["post"]["description"]
    assert [t["name"] for t in document["tags"]] == ["visits", "query", "health"]
    assert not any(name.startswith("Account") or "Batch" in name for name in schemas)


# -- declarations themselves ------------------------------------------------------------------------


def test_the_served_declarations_agree_with_the_salesforce_metadata() -> None:
    """Every declared object, field and request key exists in salesforce/ (as the emulator loads it),
    with the declared key prefix, a compatible type and the same text length; and every field
    Salesforce requires on create is required by the declaration too."""
    schema = load_schema(DEFAULT_METADATA_DIR)
    compatible = {
        "text": TEXT_TYPES,
        "email": {"email"},
        "choice": {"picklist"},
        "date": {"date"},
        "reference": {"reference"},
        "number": NUMBER_TYPES,
        "integer": NUMBER_TYPES,
    }
    for obj in OBJECTS:
        found = schema.object(obj.sobject)
        assert found is not None and found.key_prefix == obj.key_prefix, obj.sobject
        for rule in obj.fields:
            declared = found.field(rule.name)
            assert declared is not None and declared.createable, f"{obj.sobject}.{rule.name}"
            assert declared.type in compatible[rule.kind], f"{obj.sobject}.{rule.name}: {declared.type}"
            if rule.max_length is not None:
                assert declared.length == rule.max_length, f"{obj.sobject}.{rule.name}"
        for name in obj.read_only:
            assert found.field(name) is not None, f"{obj.sobject}.{name}"
        required_by_salesforce = {f.name for f in found.fields.values() if f.required and f.createable}
        assert required_by_salesforce <= set(obj.required), obj.sobject
        assert obj.request_key_field is not None
        key = found.field(obj.request_key_field)
        assert key is not None and key.external_id and key.unique, obj.sobject


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"required": ("Reason__c", "Nope__c")}, "required fields ['Nope__c'] are not declared"),
        ({"created": (Echo("who", ("Nope__c",)),)}, "echoes undeclared fields"),
        ({"created": (Echo("both", ("Reason__c", "Minutes__c")),)}, "not all required"),
        ({"collection": "query"}, "cannot be a path segment"),
        ({"collection": "Visits"}, "cannot be a path segment"),
        ({"key_prefix": "a0"}, "key_prefix"),
        ({"fields": (text_field("Reason__c", 80), text_field("Reason__c", 40))}, "declared twice"),
    ],
)
def test_an_inconsistent_declaration_is_refused(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        replace(declare_visit("a01"), **change)


def test_two_declarations_cannot_share_a_collection() -> None:
    visit = declare_visit("a01")
    with pytest.raises(ValueError, match="share"):
        routes_for([visit, replace(visit, sobject="Other__c")])
