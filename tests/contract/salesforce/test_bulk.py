"""Bulk API 2.0 ingest through simple-salesforce's bulk2 client (and plain HTTP for the edges)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from local.salesforce_emulator.server import SalesforceEmulator

from .conftest import wait_for, write_csv

pytestmark = pytest.mark.contract

Api = Callable[..., requests.Response]
HEADER = "Claim_Number__c,Name,Patient_Name__c,Service_Start_Date__c,Charged_Amount__c,Paid__c,Payor_Mapping_Status__c\n"


@pytest.fixture(autouse=True, params=["ingest thread", "ingest processes"])
def ingested_where(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: with the jobs ingested on the emulator's thread, and split into parts written
    by processes of their own (``bulk_process.py``, which large uploads take; here every job of two
    rows or more is split), so both run the same contract."""
    from local.salesforce_emulator import bulk_process

    in_processes = request.param == "ingest processes"
    monkeypatch.setattr(bulk_process, "CHILD_MIN_BYTES", 0 if in_processes else 1 << 40)
    monkeypatch.setattr(bulk_process, "SPLIT_ROWS", 1)
    return str(request.param)


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def upsert(sf: Salesforce, path: str) -> dict[str, Any]:
    (result,) = sf.bulk2.Claim__c.upsert(csv_file=path, external_id_field="Claim_Number__c", wait=0.05)
    return dict(result)


def create_job(api: Api, **overrides: Any) -> dict[str, Any]:
    body = {
        "object": "Claim__c",
        "operation": "upsert",
        "externalIdFieldName": "Claim_Number__c",
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
        **overrides,
    }
    r = api("POST", "jobs/ingest", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def upload(api: Api, job_id: str, text: str) -> requests.Response:
    return api(
        "PUT", f"jobs/ingest/{job_id}/batches", data=text.encode(), headers={"Content-Type": "text/csv"}
    )


def finished(api: Api, job_id: str) -> dict[str, Any]:
    def state() -> dict[str, Any] | None:
        info = api("GET", f"jobs/ingest/{job_id}").json()
        return info if info["state"] in ("JobComplete", "Failed", "Aborted") else None

    return dict(wait_for(state))


def test_upsert_with_row_failures(sf: Salesforce, tmp_path: Path) -> None:
    sf.Claim__c.create({"Claim_Number__c": "EXISTING", "Patient_Name__c": "Old"})
    path = write_csv(
        tmp_path / "claims.csv",
        HEADER
        + "C-1,C-1,Ann,2024-01-05,100.50,true,Mapped\n"
        + "C-2,C-2,Bob,2024-02-30,1,false,Unmapped\n"  # impossible date
        + "C-3,C-3,"
        + "x" * 256
        + ",2024-01-05,1,false,Mapped\n"  # too long
        + "C-4,C-4,Dup,2024-01-05,1,false,Mapped\n"
        + "c-4,C-4b,Dup again,2024-01-05,1,false,Mapped\n"  # same external id (case-insensitive)
        + "C-5,C-5,Eve,2024-01-05,abc,false,Mapped\n"  # not a number
        + "C-6,C-6,Fay,2024-01-05,1,false,Maybe\n"  # restricted picklist
        + "EXISTING,EXISTING,New,2024-01-05,2,true,Mapped\n",
    )
    result = upsert(sf, path)
    assert result["numberRecordsProcessed"] == 8
    assert result["numberRecordsFailed"] == 6
    job_id = result["job_id"]
    failed = {r["Claim_Number__c"]: r for r in rows(sf.bulk2.Claim__c.get_failed_records(job_id))}
    assert failed["C-2"]["sf__Error"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
    assert failed["C-3"]["sf__Error"].startswith("STRING_TOO_LONG:")
    assert failed["C-3"]["sf__Error"].endswith(":Patient_Name__c --")
    assert failed["C-4"]["sf__Error"] == "DUPLICATE_VALUE:Duplicate external id specified: C-4:--"
    assert failed["c-4"]["sf__Error"].startswith("DUPLICATE_VALUE:Duplicate external id specified")
    assert failed["C-5"]["sf__Error"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
    assert failed["C-6"]["sf__Error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:")
    assert all(r["sf__Id"] == "" for r in failed.values())
    ok = {r["Claim_Number__c"]: r for r in rows(sf.bulk2.Claim__c.get_successful_records(job_id))}
    assert ok["C-1"]["sf__Created"] == "true" and ok["EXISTING"]["sf__Created"] == "false"
    assert ok["C-1"]["sf__Id"].startswith(sf.Claim__c.describe()["keyPrefix"])
    assert sf.Claim__c.get_by_custom_id("Claim_Number__c", "EXISTING")["Patient_Name__c"] == "New"
    rec = sf.Claim__c.get(ok["C-1"]["sf__Id"])
    assert (rec["Charged_Amount__c"], rec["Paid__c"], rec["Service_Start_Date__c"]) == (
        100.5,
        True,
        "2024-01-05",
    )


def test_results_csv_shape(sf: Salesforce, tmp_path: Path, api: Api) -> None:
    result = upsert(
        sf, write_csv(tmp_path / "c.csv", 'Claim_Number__c,Patient_Name__c\nA,"Doe, Jane"\nB,x\nB,y\n')
    )
    ok = api("GET", f"jobs/ingest/{result['job_id']}/successfulResults/")
    assert ok.status_code == 200 and ok.headers["Content-Type"].startswith("text/csv")
    assert ok.text.startswith('"sf__Id","sf__Created",Claim_Number__c,Patient_Name__c\n')
    assert "\r" not in ok.text and '"Doe, Jane"' in ok.text
    bad = api("GET", f"jobs/ingest/{result['job_id']}/failedResults/").text
    assert bad.startswith('"sf__Id","sf__Error",Claim_Number__c,Patient_Name__c\n')
    assert len(rows(bad)) == 2
    unprocessed = api("GET", f"jobs/ingest/{result['job_id']}/unprocessedrecords/").text
    assert unprocessed == "Claim_Number__c,Patient_Name__c\n"


def test_empty_is_ignored_on_update_and_na_sets_null(sf: Salesforce, tmp_path: Path) -> None:
    upsert(
        sf,
        write_csv(
            tmp_path / "a.csv", "Claim_Number__c,Patient_Name__c,MR_Number__c,Paid__c\nK1,Ann,MR1,true\n"
        ),
    )
    upsert(
        sf,
        write_csv(
            tmp_path / "b.csv",
            "Claim_Number__c,Patient_Name__c,MR_Number__c,Paid__c\nK1,,#N/A,#N/A\nK2,,#N/A,\n",
        ),
    )
    k1 = sf.Claim__c.get_by_custom_id("Claim_Number__c", "K1")
    assert k1["Patient_Name__c"] == "Ann"  # empty: unchanged
    assert k1["MR_Number__c"] is None  # #N/A: cleared
    assert k1["Paid__c"] is False
    k2 = sf.Claim__c.get_by_custom_id("Claim_Number__c", "K2")
    assert k2["Patient_Name__c"] is None and k2["MR_Number__c"] is None and k2["Name"] == k2["Id"]


def test_unknown_column_fails_the_whole_job(sf: Salesforce, tmp_path: Path, api: Api) -> None:
    with pytest.raises(SalesforceOperationError, match="Field name not found : Foo"):
        upsert(sf, write_csv(tmp_path / "bad.csv", "Claim_Number__c,Foo\nX,1\n"))
    jobs = api("GET", "jobs/ingest").json()["records"]
    info = api("GET", f"jobs/ingest/{jobs[-1]['id']}").json()
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Foo"
    assert sf.query("SELECT COUNT() FROM Claim__c")["totalSize"] == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('Claim_Number__c,Name\n"X,1\n', "InvalidBatch : Failed to parse CSV"),
        ("Claim_Number__c,Name\nX,1,2\n", "InvalidBatch : Wrong number of columns"),
        ("Claim_Number__c,Name\r\nX,1\r\n", "ClientInputError : LineEnding is invalid on user data"),
        ("Name\nX\n", "InvalidBatch : Field name not found : Claim_Number__c"),
    ],
)
def test_malformed_csv_fails_the_job(api: Api, text: str, message: str) -> None:
    job = create_job(api)
    assert upload(api, job["id"], text).status_code == 201
    assert api("PATCH", f"jobs/ingest/{job['id']}", json={"state": "UploadComplete"}).status_code == 200
    info = finished(api, job["id"])
    assert info["state"] == "Failed" and info["errorMessage"].startswith(message)
    unprocessed = api("GET", f"jobs/ingest/{job['id']}/unprocessedrecords/").text
    assert unprocessed == text


def test_job_lifecycle_and_state_rules(api: Api) -> None:
    job = create_job(api)
    assert job["state"] == "Open" and job["id"].startswith("750") and job["apiVersion"] == 62.0
    assert job["contentUrl"] == f"services/data/v62.0/jobs/ingest/{job['id']}/batches"
    assert upload(api, job["id"], "Claim_Number__c\nA\n").status_code == 201
    second = upload(api, job["id"], "Claim_Number__c\nB\n")
    assert second.status_code == 400 and second.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    delete_open = api("DELETE", f"jobs/ingest/{job['id']}")
    assert delete_open.status_code == 400
    closed = api("PATCH", f"jobs/ingest/{job['id']}", json={"state": "UploadComplete"}).json()
    assert closed["state"] == "UploadComplete"
    late = upload(api, job["id"], "Claim_Number__c\nC\n")
    assert late.status_code == 409 and late.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    info = finished(api, job["id"])
    assert info["state"] == "JobComplete" and info["numberRecordsProcessed"] == 1
    assert info["jobType"] == "V2Ingest" and "totalProcessingTime" in info
    assert api("DELETE", f"jobs/ingest/{job['id']}").status_code == 204
    assert api("GET", f"jobs/ingest/{job['id']}").status_code == 404


def test_abort_open_job(api: Api) -> None:
    job = create_job(api)
    upload(api, job["id"], "Claim_Number__c\nA\nB\n")
    aborted = api("PATCH", f"jobs/ingest/{job['id']}", json={"state": "Aborted"})
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    assert api("GET", f"jobs/ingest/{job['id']}/unprocessedrecords/").text == "Claim_Number__c\nA\nB\n"
    again = api("PATCH", f"jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    assert again.status_code == 409
    assert api("DELETE", f"jobs/ingest/{job['id']}").status_code == 204


def test_bad_job_requests(api: Api) -> None:
    for body in (
        {"object": "Nope__c", "operation": "insert"},
        {"object": "Claim__c", "operation": "upsert"},
        {"object": "Claim__c", "operation": "upsert", "externalIdFieldName": "Patient_Name__c"},
        {"object": "Claim__c", "operation": "merge"},
        {"object": "Claim__c", "operation": "insert", "lineEnding": "CR"},
    ):
        r = api("POST", "jobs/ingest", json=body)
        assert r.status_code == 400, body
        assert r.json()[0]["errorCode"] in ("INVALIDJOB", "FEATURENOTENABLED")
    assert api("GET", "jobs/ingest/7505g0000000zzzAAA").status_code == 404


def test_insert_update_delete_operations(sf: Salesforce, tmp_path: Path, api: Api) -> None:
    (ins,) = sf.bulk2.Claim_Payor__c.insert(
        csv_file=write_csv(tmp_path / "i.csv", "Name\nAetna\nCigna\n"), wait=0.05
    )
    ok = rows(sf.bulk2.Claim_Payor__c.get_successful_records(ins["job_id"]))
    ids_ = [r["sf__Id"] for r in ok]
    update_csv = f"Id,Name\n{ids_[0]},Aetna Inc\n{ids_[0][:15]}x,Bad\n"
    (upd,) = sf.bulk2.Claim_Payor__c.update(csv_file=write_csv(tmp_path / "u.csv", update_csv), wait=0.05)
    assert upd["numberRecordsFailed"] == 1
    assert sf.Claim_Payor__c.get(ids_[0])["Name"] == "Aetna Inc"
    (dele,) = sf.bulk2.Claim_Payor__c.delete(
        csv_file=write_csv(tmp_path / "d.csv", f"Id\n{ids_[1]}\n"), wait=0.05
    )
    assert dele["numberRecordsFailed"] == 0
    assert sf.query("SELECT COUNT() FROM Claim_Payor__c")["totalSize"] == 1


def test_lookup_to_missing_record_fails_the_row(sf: Salesforce, tmp_path: Path) -> None:
    payor = sf.Claim_Payor__c.create({"Name": "Aetna"})["id"]
    text = f"Claim_Number__c,Claim_Payor__c\nL1,{payor}\nL2,{payor[:3]}5g000000zzzz\nL3,notanid\n"
    result = upsert(sf, write_csv(tmp_path / "l.csv", text))
    failed = {
        r["Claim_Number__c"]: r["sf__Error"]
        for r in rows(sf.bulk2.Claim__c.get_failed_records(result["job_id"]))
    }
    assert failed["L2"].startswith("INVALID_CROSS_REFERENCE_KEY:")
    assert failed["L3"].startswith("MALFORMED_ID:")
    assert sf.Claim__c.get_by_custom_id("Claim_Number__c", "L1")["Claim_Payor__c"] == payor


def test_fail_job_fault(
    sf: Salesforce, clean: SalesforceEmulator, http: requests.Session, tmp_path: Path
) -> None:
    http.post(clean.admin_url + "/faults", json={"kind": "fail_job"})
    with pytest.raises(SalesforceOperationError):
        upsert(sf, write_csv(tmp_path / "f.csv", "Claim_Number__c\nF1\n"))
    result = upsert(sf, write_csv(tmp_path / "g.csv", "Claim_Number__c\nF1\n"))  # only the next job fails
    assert result["numberRecordsFailed"] == 0


def test_lock_row_fault_is_deterministic_and_retries_land(
    sf: Salesforce, clean: SalesforceEmulator, http: requests.Session, tmp_path: Path
) -> None:
    http.post(
        clean.admin_url + "/faults",
        json={"kind": "lock_row", "share": 0.3, "seed": 7, "max_per_record": 1},
    )
    text = "Claim_Number__c\n" + "".join(f"R{i}\n" for i in range(200))
    result = upsert(sf, write_csv(tmp_path / "r.csv", text))
    failed = rows(sf.bulk2.Claim__c.get_failed_records(result["job_id"]))
    assert 30 <= len(failed) <= 90
    assert all(
        r["sf__Error"].startswith("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record")
        for r in failed
    )
    retry = "Claim_Number__c\n" + "".join(f"{r['Claim_Number__c']}\n" for r in failed)
    again = upsert(sf, write_csv(tmp_path / "retry.csv", retry))
    assert again["numberRecordsFailed"] == 0
    assert sf.query("SELECT COUNT() FROM Claim__c")["totalSize"] == 200


def test_unavailable_fault(
    sf: Salesforce, clean: SalesforceEmulator, http: requests.Session, api: Api
) -> None:
    http.post(clean.admin_url + "/faults", json={"kind": "unavailable", "on": "bulk_upload", "count": 2})
    job = create_job(api)
    for _ in range(2):
        r = upload(api, job["id"], "Claim_Number__c\nU1\n")
        assert r.status_code == 503 and r.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert upload(api, job["id"], "Claim_Number__c\nU1\n").status_code == 201


def test_crlf_and_other_delimiters(api: Api) -> None:
    job = create_job(api, lineEnding="CRLF", columnDelimiter="SEMICOLON")
    upload(api, job["id"], 'Claim_Number__c;Patient_Name__c\r\nS1;Ann\r\nS2;"Bo;b"\r\n')
    api("PATCH", f"jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    info = finished(api, job["id"])
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (
        "JobComplete",
        2,
        0,
    )


def test_hold_jobs_fault_keeps_closed_jobs_queued_until_released_and_abort_wins(
    api: Api, clean: SalesforceEmulator, http: requests.Session
) -> None:
    http.post(clean.admin_url + "/faults", json={"kind": "hold_jobs"})
    held, aborted = create_job(api)["id"], create_job(api)["id"]
    for job_id, claim in ((held, "H1"), (aborted, "A1")):
        assert upload(api, job_id, f"Claim_Number__c\n{claim}\n").status_code == 201
        assert api("PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"}).status_code == 200
    wait_for(lambda: http.get(clean.admin_url + "/faults").json()["held_jobs"] == [held, aborted])
    assert api("GET", f"jobs/ingest/{held}").json()["state"] == "UploadComplete", "queued, not processed"

    assert api("PATCH", f"jobs/ingest/{aborted}", json={"state": "Aborted"}).status_code == 200
    assert "A1" in api("GET", f"jobs/ingest/{aborted}/unprocessedrecords/").text
    http.delete(clean.admin_url + "/faults")  # released: processed in order, the aborted one skipped
    assert finished(api, held)["numberRecordsProcessed"] == 1
    assert api("GET", f"jobs/ingest/{aborted}").json()["state"] == "Aborted"
    claims = api("GET", "query", params={"q": "SELECT Claim_Number__c FROM Claim__c"}).json()["records"]
    assert [r["Claim_Number__c"] for r in claims] == ["H1"]


def _large_job_csv(count: int) -> str:
    """``count`` claims with bad rows spread through every batch: repeated ids, impossible dates,
    amounts that are not numbers, names too long and a restricted picklist's wrong value."""
    lines = [HEADER]
    for n in range(count):
        claim = f"L-{n // 2 if n % 997 == 0 else n}"  # every 997th row repeats its neighbour's id
        date = "2024-02-30" if n % 1009 == 0 else f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d}"
        amount = "abc" if n % 1013 == 0 else f"{n % 5000}.{n % 100:02d}"
        name = "x" * 256 if n % 1019 == 0 else f"Patient {n}"
        status = "Maybe" if n % 1021 == 0 else ("Mapped" if n % 2 else "Unmapped")
        lines.append(f"{claim},{claim},{name},{date},{amount},{'true' if n % 3 else 'false'},{status}\n")
    return "".join(lines)


def test_a_large_job_aborted_while_it_runs_leaves_every_row_written_or_unprocessed(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from local.salesforce_emulator import bulk_process
    from local.salesforce_emulator.bulk_rows import BATCH_SIZE

    monkeypatch.setattr(bulk_process, "SPLIT_ROWS", BATCH_SIZE)  # parts of whole batches, as by default

    rows_count = BATCH_SIZE * 5
    expected = [line.split(",", 1)[0] for line in _large_job_csv(rows_count).splitlines()[1:]]
    cut_short = False
    # The abort is honoured at a batch's end: a job whose last batches were already under way ends
    # with every row written (and Aborted), and one that completed before the abort came refuses it
    # (409, as Salesforce does) and stays JobComplete. Each attempt checks that nothing is lost; up to
    # five jobs are tried for one that the abort cut short, which it must then show.
    for _attempt in range(5):
        job_id = create_job(api)["id"]
        assert upload(api, job_id, _large_job_csv(rows_count)).status_code == 201
        assert api("PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"}).status_code == 200
        wait_for(
            lambda job_id=job_id: (
                int(api("GET", f"jobs/ingest/{job_id}").json()["numberRecordsProcessed"]) > 0
            )
        )
        abort = api("PATCH", f"jobs/ingest/{job_id}", json={"state": "Aborted"})
        if abort.status_code == 409:  # every batch was written before the abort came
            info = api("GET", f"jobs/ingest/{job_id}").json()
            assert info["state"] == "JobComplete", abort.text
            assert int(info["numberRecordsProcessed"]) == rows_count
            continue
        assert abort.status_code == 200, abort.text
        finished(api, job_id)  # the state says Aborted at once; the results follow at a batch's end

        def results(job_id: str = job_id) -> tuple[list[str], list[str]] | None:
            done = [
                r["Claim_Number__c"]
                for kind in ("successfulResults", "failedResults")
                for r in rows(api("GET", f"jobs/ingest/{job_id}/{kind}/").text)
            ]
            url = f"jobs/ingest/{job_id}/unprocessedrecords/"
            left = [r["Claim_Number__c"] for r in rows(api("GET", url).text)]
            return (done, left) if len(done) + len(left) == rows_count else None

        done, left = wait_for(results)
        info = api("GET", f"jobs/ingest/{job_id}").json()
        assert info["state"] == "Aborted" and int(info["numberRecordsProcessed"]) == len(done)
        assert sorted(done + left) == sorted(expected)
        if 0 < len(done) < rows_count:
            cut_short = True
            break
    assert cut_short
