"""Benchmark: upsert N synthetic Claim__c rows through simple-salesforce's Bulk 2.0 client.

    python -m bench.bulk_upsert [--rows 100000] [--seed 1]

Starts the Salesforce emulator in a subprocess (so its memory is measured apart from the client's),
generates realistic but entirely synthetic claims, runs ``sf.bulk2.Claim__c.upsert`` end to end (job,
upload, close, processing, polling) and downloads the result files, upserts the same file again (every
row an update this time), then prints one JSON object:
wall times and the peak RSS of the client and of the emulator. Target: 100,000 rows in under 15 s,
under 500 MB.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests
from simple_salesforce import Salesforce

from local.emulator_process import EmulatorProcess
from local.salesforce_emulator.server import SalesforceCredentials

COLUMNS = [
    "Claim_Number__c", "Name", "Patient_Name__c", "Patient_Id__c", "MR_Number__c", "Payer_Id__c",
    "Payer_Name__c", "Payor_Mapping_Status__c", "Authorization_Number__c", "Service_Start_Date__c",
    "Service_End_Date__c", "Claim_From_Date__c", "Submitted_Date__c", "Last_Billed_Date__c",
    "Charged_Amount__c", "Paid_Amount__c", "Balance__c", "Paid_Date__c", "Paid__c", "Payment_Reference__c",
    "Source_Updated_At__c", "Last_Sync_Run__c",
]  # fmt: skip
FIRST = ["Ann", "Bob", "Carla", "Dev", "Eun", "Farah", "Gus", "Hana", "Ivan", "José", "Kim", "Lena"]
LAST = ["Smith", "Nguyen", "García", "Okafor", "Müller", "Kowalski", "Haddad", "Ito", "Brown", "O'Neil"]
PAYERS = [("00123", "Aetna"), ("00456", "Cigna"), ("00789", "UnitedHealthcare"), ("01011", "Medicare Part B")]


def write_claims(path: Path, rows: int, seed: int) -> None:
    rnd = random.Random(seed)
    base = date(2024, 1, 1)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(COLUMNS)
        for i in range(rows):
            start = base + timedelta(days=rnd.randrange(0, 365))
            charged = rnd.randrange(5_000, 500_000) / 100
            paid = round(charged * rnd.choice((0, 0, 0.5, 0.8, 1)), 2)
            payer_id, payer_name = rnd.choice(PAYERS)
            has_paid = paid > 0
            w.writerow(
                [
                    f"CL{i:08d}", f"CL{i:08d}",
                    f"{rnd.choice(LAST)}, {rnd.choice(FIRST)}", f"P{rnd.randrange(10**6):06d}",
                    f"MR{rnd.randrange(10**7):07d}", payer_id, payer_name, rnd.choice(("Mapped", "Unmapped")),
                    f"AUTH{rnd.randrange(10**6)}" if rnd.random() < 0.6 else "",
                    start.isoformat(), (start + timedelta(days=rnd.randrange(0, 10))).isoformat(),
                    start.isoformat(), (start + timedelta(days=12)).isoformat(), (start + timedelta(days=14)).isoformat(),
                    f"{charged:.2f}", f"{paid:.2f}", f"{charged - paid:.2f}",
                    (start + timedelta(days=40)).isoformat() if has_paid else "#N/A",
                    "true" if has_paid else "false",
                    f"CHK{rnd.randrange(10**8)}" if has_paid else "#N/A",
                    f"{(start + timedelta(days=41)).isoformat()}T12:{i % 60:02d}:00.000Z", "bench-run-1",
                ]
            )  # fmt: skip


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as tmp:
        work = Path(tmp)
        creds = SalesforceCredentials.generate()
        creds.save(work / "credentials.json")
        emulator = EmulatorProcess(
            "local.salesforce_emulator",
            ["--state-dir", str(work / "state"), "--credentials", str(work / "credentials.json")],
        )
        try:
            ready: dict[str, Any] = emulator.start()
            csv_path = work / "claims.csv"
            t0 = time.perf_counter()
            write_claims(csv_path, args.rows, args.seed)
            generate_s = time.perf_counter() - t0

            session = requests.Session()
            session.trust_env = False  # else REQUESTS_CA_BUNDLE would win over session.verify
            session.verify = ready["ca_cert"]
            token = session.post(
                ready["token_url"],
                data={"grant_type": "client_credentials", "client_id": creds.client_id,
                      "client_secret": creds.client_secret},
            ).json()["access_token"]  # fmt: skip
            sf = Salesforce(
                instance_url=ready["instance_url"], session_id=token, session=session, version="62.0"
            )

            t1 = time.perf_counter()
            (result,) = sf.bulk2.Claim__c.upsert(
                csv_file=str(csv_path), external_id_field="Claim_Number__c", wait=0.2
            )
            upsert_s = time.perf_counter() - t1
            ok = sf.bulk2.Claim__c.get_successful_records(result["job_id"])
            failed = sf.bulk2.Claim__c.get_failed_records(result["job_id"])
            total_s = time.perf_counter() - t1
            t2 = time.perf_counter()  # the same rows again: now every row is an update
            (again,) = sf.bulk2.Claim__c.upsert(
                csv_file=str(csv_path), external_id_field="Claim_Number__c", wait=0.2
            )
            update_s = time.perf_counter() - t2
            job = session.get(
                f"{ready['instance_url']}/services/data/v62.0/jobs/ingest/{result['job_id']}",
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            report = {
                "rows": args.rows,
                "csv_mb": round(csv_path.stat().st_size / 2**20, 1),
                "generate_csv_s": round(generate_s, 2),
                "upsert_wall_s": round(upsert_s, 2),
                "end_to_end_with_results_s": round(total_s, 2),
                "emulator_processing_ms": job["totalProcessingTime"],
                "second_upsert_all_updates_wall_s": round(update_s, 2),
                "second_upsert_failed": again["numberRecordsFailed"],
                "records_processed": result["numberRecordsProcessed"],
                "records_failed": result["numberRecordsFailed"],
                "successful_result_rows": ok.count("\n") - 1,
                "failed_result_rows": failed.count("\n") - 1,
                "client_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "emulator_peak_rss_mb": round(peak_rss_mb(emulator.pid), 1),
            }
        finally:
            emulator.stop()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
