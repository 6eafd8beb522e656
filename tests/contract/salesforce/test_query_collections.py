"""SOQL paging and sObject Collections through simple-salesforce."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from local.salesforce_emulator.server import SalesforceEmulator

from .conftest import write_csv

pytestmark = pytest.mark.contract

Api = Callable[..., requests.Response]


def load_claims(sf: Salesforce, tmp_path: Path, n: int) -> None:
    text = "Claim_Number__c,Payer_Id__c\n" + "".join(f"Q{i:05d},P{i % 7}\n" for i in range(n))
    (result,) = sf.bulk2.Claim__c.insert(csv_file=write_csv(tmp_path / "q.csv", text), wait=0.05)
    assert result["numberRecordsFailed"] == 0


def test_query_pages_at_2000_and_query_all_follows(sf: Salesforce, tmp_path: Path) -> None:
    load_claims(sf, tmp_path, 4500)
    first = sf.query("SELECT Id, Claim_Number__c FROM Claim__c ORDER BY Claim_Number__c")
    assert first["totalSize"] == 4500 and first["done"] is False and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/")
    assert first["records"][0]["attributes"]["type"] == "Claim__c"
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(second["records"]) == 2000 and second["records"][0]["Claim_Number__c"] == "Q02000"
    everything = sf.query_all("SELECT Id, Claim_Number__c FROM Claim__c WHERE Payer_Id__c != null")
    assert everything["totalSize"] == 4500
    assert len({r["Id"] for r in everything["records"]}) == 4500
    assert sf.query("SELECT COUNT() FROM Claim__c WHERE Payer_Id__c = 'P3'")["totalSize"] == 643


def test_query_errors(sf: Salesforce, api: Api) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELEC Id FROM Account")
    assert info.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Nope FROM Account")
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
    r = api("GET", "query/01gBOGUS-2000")
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    assert api("GET", "query").status_code == 400


def test_parent_relationship_query(sf: Salesforce) -> None:
    payor = sf.Claim_Payor__c.create({"Name": "Aetna"})["id"]
    sf.Claim__c.create({"Claim_Number__c": "R1", "Claim_Payor__c": payor})
    rec = sf.query("SELECT Claim_Number__c, Claim_Payor__r.Name FROM Claim__c")["records"][0]
    assert rec["Claim_Payor__r"]["Name"] == "Aetna"


def test_collections_upsert_in_request_order(sf: Salesforce, api: Api) -> None:
    sf.Claim__c.create({"Claim_Number__c": "B"})
    records = [
        {"attributes": {"type": "Claim__c"}, "Claim_Number__c": "A", "Patient_Name__c": "Ann"},
        {"attributes": {"type": "Claim__c"}, "Claim_Number__c": "B", "Patient_Name__c": "Bob"},
        {"attributes": {"type": "Claim__c"}, "Claim_Number__c": "C", "Payor_Mapping_Status__c": "Nope"},
    ]
    r = api(
        "PATCH", "composite/sobjects/Claim__c/Claim_Number__c", json={"allOrNone": False, "records": records}
    )
    assert r.status_code == 200
    a, b, c = r.json()
    assert (a["success"], a["created"]) == (True, True)
    assert (b["success"], b["created"]) == (True, False)
    assert c["success"] is False and c["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sf.Claim__c.get_by_custom_id("Claim_Number__c", "B")["Patient_Name__c"] == "Bob"


def test_collections_all_or_none_rolls_back(sf: Salesforce, api: Api) -> None:
    records = [
        {"attributes": {"type": "Account"}, "Name": "Good"},
        {"attributes": {"type": "Account"}},
    ]
    r = api("POST", "composite/sobjects", json={"allOrNone": True, "records": records})
    good, bad = r.json()
    assert good["success"] is False and good["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert bad["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_collections_create_update_delete(sf: Salesforce, api: Api) -> None:
    created = api(
        "POST",
        "composite/sobjects",
        json={
            "records": [
                {"attributes": {"type": "Account"}, "Name": "One"},
                {"attributes": {"type": "Contact"}, "LastName": "Two"},
            ]
        },
    ).json()
    assert all(r["success"] for r in created)
    account, contact = (r["id"] for r in created)
    updated = api(
        "PATCH",
        "composite/sobjects",
        json={
            "records": [
                {"attributes": {"type": "Account"}, "id": account, "Name": "Uno"},
                {"attributes": {"type": "Contact"}, "Id": contact, "Email": "bad"},
            ]
        },
    ).json()
    assert updated[0]["success"] is True
    assert updated[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert sf.Account.get(account)["Name"] == "Uno"
    deleted = api("DELETE", "composite/sobjects", params={"ids": f"{account},{contact},{account}"}).json()
    assert [r["success"] for r in deleted] == [True, True, False]
    assert deleted[2]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_collections_limit(api: Api) -> None:
    records = [{"attributes": {"type": "Claim__c"}, "Claim_Number__c": f"X{i}"} for i in range(201)]
    r = api("PATCH", "composite/sobjects/Claim__c/Claim_Number__c", json={"records": records})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    r = api("DELETE", "composite/sobjects", params={"ids": ",".join(["0015g0000000001AAA"] * 201)})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_collections_lock_row_fault(clean: SalesforceEmulator, http: requests.Session, api: Api) -> None:
    http.post(
        clean.admin_url + "/faults",
        json={"kind": "lock_row", "share": 0.5, "seed": 3, "max_per_record": 1},
    )
    records = [{"attributes": {"type": "Claim__c"}, "Claim_Number__c": f"L{i}"} for i in range(100)]
    first = api("PATCH", "composite/sobjects/Claim__c/Claim_Number__c", json={"records": records}).json()
    locked = [i for i, r in enumerate(first) if not r["success"]]
    assert 20 <= len(locked) <= 80
    assert all(first[i]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW" for i in locked)
    retry = api(
        "PATCH", "composite/sobjects/Claim__c/Claim_Number__c", json={"records": [records[i] for i in locked]}
    ).json()
    assert all(r["success"] and r["created"] for r in retry)
