"""REST sObject resources through simple-salesforce: CRUD, upsert, describe and every validation code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from local.salesforce_emulator import ids

pytestmark = pytest.mark.contract

Api = Callable[..., requests.Response]


def error_of(exc: Any) -> dict[str, Any]:
    content = exc.value.content
    assert isinstance(content, list) and len(content) == 1
    return dict(content[0])


def test_id_checksum_matches_salesforce() -> None:
    # A published example: 001A0000006Vm9r is 001A0000006Vm9rIAC in its 18-character form.
    assert ids.to18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert ids.normalize("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    with pytest.raises(ids.MalformedId):
        ids.normalize("001A0000006Vm9rAAA")


@pytest.mark.parametrize(
    ("first", "count"), [(1, 1), (1, 10_000), (3_843, 3), (3_844 * 5 - 7, 8_000), (9, 0)]
)
def test_ids_made_a_batch_at_a_time_are_the_ids_made_one_at_a_time(first: int, count: int) -> None:
    made = ids.make_ids("a0X", first, count)
    assert made == [ids.make_id("a0X", n) for n in range(first, first + count)]
    assert all(ids.normalize(rid) == rid for rid in made)


@pytest.mark.parametrize(
    "text",
    [
        "2024-07-12T13:52:11.886Z",
        "2024-07-12T13:52:11.886+0000",
        "2024-07-12T13:52:11.886+00:00",
        "2024-07-12T13:52:11.886Z ",
        "2024-07-12T13:52:11.886-05:00",
        "2024-13-12T13:52:11.886Z",
        "2024-02-30T13:52:11.886Z",
        "2024-02-29T24:00:00.000Z",
        "2024-07-12T13:52:61.886Z",
        "0000-01-01T00:00:00.000Z",
        "9999-12-31T23:59:59.999Z",
    ],
)
def test_a_canonical_utc_datetime_reads_as_the_full_parse_reads_it(text: str) -> None:
    from local.salesforce_emulator import fields

    assert fields.parse_datetime(text) == fields._parse_datetime(text)


def test_crud_round_trip(sf: Salesforce) -> None:
    created = sf.Account.create(
        {"Name": "Acme", "Industry": "Healthcare", "AnnualRevenue": 1000, "NumberOfEmployees": 12}
    )
    assert created["success"] is True and created["errors"] == []
    rid = created["id"]
    assert len(rid) == 18 and rid.startswith("001")
    rec = sf.Account.get(rid)
    assert rec["attributes"] == {"type": "Account", "url": f"/services/data/v62.0/sobjects/Account/{rid}"}
    assert rec["Name"] == "Acme" and rec["AnnualRevenue"] == 1000.0 and rec["NumberOfEmployees"] == 12
    assert rec["CreatedDate"].endswith("+0000") and rec["IsDeleted"] is False
    assert sf.Account.update(rid, {"Phone": "555-0100", "Industry": None}) == 204
    rec = sf.Account.get(rid)
    assert rec["Phone"] == "555-0100" and rec["Industry"] is None
    assert sf.Account.delete(rid) == 204
    with pytest.raises(SalesforceResourceNotFound) as info:
        sf.Account.get(rid)
    assert error_of(info)["errorCode"] == "NOT_FOUND"


def test_get_with_fields_param(sf: Salesforce, api: Api) -> None:
    rid = sf.Account.create({"Name": "Acme", "Phone": "1"})["id"]
    body = api("GET", f"sobjects/Account/{rid}", params={"fields": "Name"}).json()
    assert set(body) == {"attributes", "Id", "Name"}
    bad = api("GET", f"sobjects/Account/{rid}", params={"fields": "Nope"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"


def test_fifteen_and_eighteen_character_ids(sf: Salesforce, api: Api) -> None:
    rid = sf.Contact.create({"LastName": "Doe"})["id"]
    assert sf.Contact.get(rid[:15])["Id"] == rid
    bad_checksum = rid[:15] + ("AAA" if rid[15:] != "AAA" else "BBB")
    r = api("GET", f"sobjects/Contact/{bad_checksum}")
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "MALFORMED_ID"
    r = api("GET", f"sobjects/Account/{rid}")  # a Contact id under Account
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"
    r = api("GET", "sobjects/Contact/abc")
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"


def test_contact_name_and_lookup(sf: Salesforce) -> None:
    account = sf.Account.create({"Name": "Acme"})["id"]
    contact = sf.Contact.create(
        {"FirstName": "Ada", "LastName": "Lovelace", "AccountId": account[:15], "Email": "ada@example.com"}
    )["id"]
    rec = sf.Contact.get(contact)
    assert rec["Name"] == "Ada Lovelace" and rec["AccountId"] == account


def test_custom_object_name_defaults_to_id(sf: Salesforce) -> None:
    rid = sf.Claim_Payor__c.create({})["id"]
    assert sf.Claim_Payor__c.get(rid)["Name"] == rid
    mapping = sf.Payor_Mapping__c.create({"CMD_Payer_Id__c": "P1", "Claim_Payor__c": rid})["id"]
    assert sf.Payor_Mapping__c.get(mapping)["Active__c"] is True  # checkbox default from the metadata


@pytest.mark.parametrize(
    ("obj", "body", "code", "fields"),
    [
        ("Account", {"Name": "A", "Nope__c": 1}, "INVALID_FIELD", None),
        ("Account", {"Phone": "1"}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ("Opportunity", {"Name": "O"}, "REQUIRED_FIELD_MISSING", ["StageName", "CloseDate"]),
        ("Account", {"Name": "x" * 256}, "STRING_TOO_LONG", ["Name"]),
        ("Claim__c", {"Claim_Number__c": "x" * 51}, "STRING_TOO_LONG", ["Claim_Number__c"]),
        ("Account", {"Name": "A", "NumberOfEmployees": "many"}, "JSON_PARSER_ERROR", None),
        ("Account", {"Name": "A", "AnnualRevenue": True}, "JSON_PARSER_ERROR", None),
        ("Claim__c", {"Paid__c": "yes"}, "JSON_PARSER_ERROR", None),
        ("Claim__c", {"Service_Start_Date__c": "2024-02-30"}, "JSON_PARSER_ERROR", None),
        ("Claim__c", {"Service_Start_Date__c": "01/05/2024"}, "JSON_PARSER_ERROR", None),
        ("Claim__c", {"Source_Updated_At__c": "yesterday"}, "JSON_PARSER_ERROR", None),
        ("Contact", {"LastName": "D", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
        (
            "Claim__c",
            {"Payor_Mapping_Status__c": "Maybe"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["Payor_Mapping_Status__c"],
        ),
        ("Claim__c", {"Charged_Amount__c": 1e15}, "NUMBER_OUTSIDE_VALID_RANGE", ["Charged_Amount__c"]),
        (
            "Opportunity",
            {"Name": "O", "StageName": "Prospecting", "CloseDate": "2024-01-01", "Probability": 1000},
            "NUMBER_OUTSIDE_VALID_RANGE",
            ["Probability"],
        ),
        ("Contact", {"LastName": "D", "AccountId": "garbage"}, "MALFORMED_ID", ["AccountId"]),
        ("Contact", {"LastName": "D", "AccountId": "0015g0000009999"}, "INVALID_CROSS_REFERENCE_KEY", []),
        (
            "Account",
            {"Name": "A", "CreatedDate": "2024-01-01T00:00:00Z"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["CreatedDate"],
        ),
    ],
)
def test_create_validation(
    sf: Salesforce, obj: str, body: dict[str, Any], code: str, fields: list[str] | None
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        getattr(sf, obj).create(body)
    assert info.value.status == 400
    err = error_of(info)
    assert err["errorCode"] == code
    assert err["message"]
    if fields is not None:
        assert err["fields"] == fields


def test_typed_values_are_accepted(sf: Salesforce) -> None:
    rid = sf.Claim__c.create(
        {
            "Claim_Number__c": "C-1",
            "Paid__c": "true",
            "Charged_Amount__c": "1867.999",
            "Service_Start_Date__c": "2024-02-29",
            "Source_Updated_At__c": "2024-03-01T10:00:00+02:00",
            "Payor_Mapping_Status__c": "Mapped",
        }
    )["id"]
    rec = sf.Claim__c.get(rid)
    assert rec["Paid__c"] is True
    assert rec["Charged_Amount__c"] == 1868.0
    assert rec["Service_Start_Date__c"] == "2024-02-29"
    assert rec["Source_Updated_At__c"] == "2024-03-01T08:00:00.000+0000"


def test_duplicate_external_id(sf: Salesforce) -> None:
    first = sf.Claim__c.create({"Claim_Number__c": "DUP-1"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Claim__c.create({"Claim_Number__c": "dup-1"})  # unique external ids are case-insensitive
    err = error_of(info)
    assert err["errorCode"] == "DUPLICATE_VALUE"
    assert first in err["message"]


def test_update_validation_and_missing_record(sf: Salesforce, api: Api) -> None:
    rid = sf.Account.create({"Name": "Acme"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Account.update(rid, {"Name": None})
    assert error_of(info)["errorCode"] == "REQUIRED_FIELD_MISSING"
    sf.Account.delete(rid)
    r = api("PATCH", f"sobjects/Account/{rid}", json={"Name": "x"})
    assert r.status_code == 404
    r = api("DELETE", f"sobjects/Account/{rid}")
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_upsert_by_external_id(sf: Salesforce, api: Api) -> None:
    r = api("PATCH", "sobjects/Claim__c/Claim_Number__c/C-42", json={"Patient_Name__c": "Jane"})
    assert r.status_code == 201
    body = r.json()
    assert body["success"] is True and body["created"] is True and body["errors"] == []
    r = api("PATCH", "sobjects/Claim__c/Claim_Number__c/C-42", json={"Patient_Name__c": "Janet"})
    assert r.status_code == 200
    assert r.json() == {"id": body["id"], "success": True, "errors": [], "created": False}
    assert sf.Claim__c.get_by_custom_id("Claim_Number__c", "C-42")["Patient_Name__c"] == "Janet"
    assert sf.Claim__c.upsert("Claim_Number__c/C-43", {"Name": "C-43"}) == 201
    r = api("PATCH", "sobjects/Claim__c/Patient_Name__c/x", json={})
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"


def test_describe(sf: Salesforce) -> None:
    d = sf.Claim__c.describe()
    assert d["name"] == "Claim__c" and d["custom"] is True and d["keyPrefix"].startswith("a")
    by_name = {f["name"]: f for f in d["fields"]}
    key = by_name["Claim_Number__c"]
    assert (key["type"], key["length"], key["externalId"], key["unique"]) == ("string", 50, True, True)
    assert by_name["Claim_Payor__c"]["referenceTo"] == ["Claim_Payor__c"]
    assert by_name["Claim_Payor__c"]["relationshipName"] == "Claim_Payor__r"
    assert [v["value"] for v in by_name["Payor_Mapping_Status__c"]["picklistValues"]] == [
        "Mapped",
        "Unmapped",
    ]
    assert by_name["Charged_Amount__c"]["type"] == "currency" and by_name["Charged_Amount__c"]["scale"] == 2
    assert by_name["Name"]["length"] == 80
    stages = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}["StageName"]["picklistValues"]
    assert len(stages) == 10
    names = {o["name"]: o["keyPrefix"] for o in sf.describe()["sobjects"]}
    assert names["Account"] == "001" and names["Contact"] == "003" and names["Opportunity"] == "006"
    assert {"Claim__c", "Claim_Payor__c", "Payor_Mapping__c"} <= set(names)


def test_unknown_object_and_bad_json(api: Api) -> None:
    r = api("POST", "sobjects/Nope__c", json={"Name": "x"})
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"
    r = api("POST", "sobjects/Account", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    r = api("POST", "sobjects/Account", json=[{"Name": "x"}])
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_any_api_version_and_versions_list(clean: Any, http: requests.Session, api: Api) -> None:
    versions = http.get(clean.instance_url + "/services/data/").json()
    assert {"label", "url", "version"} <= set(versions[-1])
    token = api("GET", "limits").request.headers["Authorization"]
    r = http.get(
        clean.instance_url + "/services/data/v58.0/sobjects/Account/describe",
        headers={"Authorization": token},
    )
    assert r.status_code == 200
    r = http.get(clean.instance_url + "/services/data/latest/sobjects", headers={"Authorization": token})
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"


def test_gzip_and_deflate_request_bodies_are_decoded_like_the_rest_api(clean, token, http):
    """REST API request compression (Content-Encoding: gzip | deflate); anything else is refused."""
    import gzip as _gzip
    import json as _json
    import zlib as _zlib

    url = f"{clean.instance_url}/services/data/v62.0/sobjects/Account/"
    http.headers["Authorization"] = f"Bearer {token}"
    sf_session = http
    body = _json.dumps({"Name": "Compressed Co"}).encode()
    for coding, data in (("gzip", _gzip.compress(body)), ("deflate", _zlib.compress(body))):
        resp = sf_session.post(
            url, data=data, headers={"Content-Type": "application/json", "Content-Encoding": coding}
        )
        assert resp.status_code == 201, resp.text
    bad = sf_session.post(
        url, data=b"not gzip", headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    odd = sf_session.post(
        url, data=body, headers={"Content-Type": "application/json", "Content-Encoding": "br"}
    )
    assert odd.status_code == 415
