"""Large Bulk jobs are split into parts written by processes of their own (``bulk_process.py``): in
parallel, as Salesforce works on a job's chunks, with every row accounted for in upload order, and a
dead process fails its job."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from local.salesforce_emulator import bulk_process
from local.salesforce_emulator.bulk import BulkError
from local.salesforce_emulator.server import SalesforceEmulator
from local.salesforce_emulator.store import Store

from .conftest import wait_for
from .test_bulk import HEADER, Api, create_job, finished, upload

pytestmark = pytest.mark.contract

ROWS = 50_000  # about 2.5 MB: well above CHILD_MIN_BYTES, and five batches of work per job


def _claims(prefix: str, count: int) -> str:
    lines = [HEADER]
    for n in range(count):
        claim = f"{prefix}-{n}"
        amount = "abc" if n % 1013 == 0 else f"{n % 5000}.{n % 100:02d}"  # a failed row in every batch
        lines.append(
            f"{claim},{claim},Patient {n},2024-{n % 12 + 1:02d}-{n % 28 + 1:02d},{amount},true,Mapped\n"
        )
    text = "".join(lines)
    assert len(text.encode()) >= bulk_process.CHILD_MIN_BYTES
    return text


def _submit(api: Api, text: str) -> str:
    job_id = str(create_job(api)["id"])
    assert upload(api, job_id, text).status_code == 201
    assert api("PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"}).status_code == 200
    return job_id


def _results(api: Api, job_id: str, kind: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(api("GET", f"jobs/ingest/{job_id}/{kind}/").text)))


def test_large_jobs_are_split_into_parts_written_at_once_and_every_row_is_written_or_failed(
    api: Api, clean: SalesforceEmulator
) -> None:
    texts = {"A": _claims("A", ROWS), "B": _claims("B", ROWS)}
    jobs = {prefix: _submit(api, text) for prefix, text in texts.items()}
    running = clean.bulk._processes._running  # the emulator runs in this process: its children are visible
    both_parts = [(jobs["A"], 0), (jobs["A"], 1)]
    # one process per job would write A's rows one after another
    wait_for(lambda: all(part in running for part in both_parts), timeout=60)

    for prefix, job_id in jobs.items():
        info = finished(api, job_id)
        ok, bad = _results(api, job_id, "successfulResults"), _results(api, job_id, "failedResults")
        assert info["state"] == "JobComplete"
        assert int(info["numberRecordsProcessed"]) == ROWS and int(info["numberRecordsFailed"]) == len(bad)
        expected = [line.split(",", 1)[0] for line in texts[prefix].splitlines()[1:]]
        # the parts' results are joined in upload order, the header once
        assert [r["Claim_Number__c"] for r in ok] == [c for n, c in enumerate(expected) if n % 1013]
        assert [r["Claim_Number__c"] for r in bad] == expected[::1013]
        assert all("Charged" in r["sf__Error"] for r in bad)
        assert len({r["sf__Id"] for r in ok}) == len(ok)  # every written row has a record id of its own
        assert _results(api, job_id, "unprocessedrecords") == []
        assert not list((clean.bulk.jobs_dir / job_id).glob("*.part"))
    query = "SELECT COUNT() FROM Claim__c"
    written = api("GET", "query", params={"q": query}).json()["totalSize"]
    assert written == 2 * (ROWS - len(range(0, ROWS, 1013)))


def test_a_created_job_has_warm_processes_waiting_and_its_parts_are_written_by_them(
    api: Api, clean: SalesforceEmulator
) -> None:
    processes = clean.bulk._processes  # the emulator runs in this process: its children are visible
    job_id = str(create_job(api)["id"])
    spares = list(processes._spares)
    assert len(spares) == bulk_process.MAX_CHILDREN and all(p.poll() is None for p in spares)

    text = _claims("W", ROWS)
    assert upload(api, job_id, text).status_code == 201
    assert api("PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"}).status_code == 200
    first = wait_for(lambda: processes._running.get((job_id, 0)), timeout=30)

    assert first in spares  # the part started on a child started ahead
    info = finished(api, job_id)
    assert info["state"] == "JobComplete" and int(info["numberRecordsProcessed"]) == ROWS
    assert len(_results(api, job_id, "successfulResults")) == ROWS - len(range(0, ROWS, 1013))


def test_an_ingest_process_that_dies_fails_its_job(api: Api, clean: SalesforceEmulator) -> None:
    job_id = _submit(api, _claims("K", ROWS))
    running = clean.bulk._processes._running  # the emulator runs in this process: its children are visible
    proc = wait_for(lambda: running.get((job_id, 0)), timeout=30)
    proc.send_signal(signal.SIGKILL)
    info = finished(api, job_id)
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InternalServerError : the job could not be processed"


def test_an_abort_racing_a_process_that_completes_the_job_is_refused_and_the_job_stays_complete(
    api: Api, clean: SalesforceEmulator
) -> None:
    # A second connection to the emulator's database, as an ingest process has, holds the writers'
    # lock while it ends the job. The abort that comes meanwhile must not read InProgress outside that
    # lock and then write Aborted over JobComplete: Salesforce refuses to abort a finished job.
    job_id = str(create_job(api)["id"])
    part = Store(clean.bulk.store.path, clean.bulk.store.schema, create_tables=False)

    def move(state: str) -> None:
        info = part.load_job(job_id)
        assert info is not None
        part.save_job({**info, "state": state}, time.time())

    with part.transaction():
        move("InProgress")
    refused: list[BulkError] = []

    def abort() -> None:  # the emulator's own call, as its API answers a PATCH (whose gate also writes)
        try:
            clean.bulk.set_state(job_id, {"state": "Aborted"})
        except BulkError as exc:
            refused.append(exc)

    with part.transaction():
        aborting = threading.Thread(target=abort)
        aborting.start()
        aborting.join(0.5)  # the abort waits for the lock (before the fix it read InProgress by now)
        move("JobComplete")
    aborting.join(timeout=20)
    part.close()
    assert [(e.status, e.code) for e in refused] == [(409, "INVALIDJOBSTATE")]
    assert api("GET", f"jobs/ingest/{job_id}").json()["state"] == "JobComplete"


def test_an_ingest_process_ends_when_the_emulator_process_is_killed() -> None:
    # A stand-in for the emulator starts an ingest process and is killed, as `kill -9` of the emulator
    # would be. The write end of the child's stdin is also held by a `sleep`, so the child is not ended
    # by its work pipe closing (as it would not be mid-ingest): only its parent watch can end it.
    stand_in = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys, time\n"
            "r, w = os.pipe()\n"
            "child = subprocess.Popen([sys.executable, '-m', 'local.salesforce_emulator.bulk_process',"
            " str(os.getpid())], stdin=r)\n"
            "holder = subprocess.Popen(['sleep', '60'], pass_fds=(w,))\n"
            "print(child.pid, holder.pid, flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=bulk_process._ROOT,
    )
    assert stand_in.stdout is not None
    child_pid, holder_pid = map(int, stand_in.stdout.readline().split())
    try:
        stand_in.kill()
        stand_in.wait(timeout=10)
        wait_for(lambda: _ended(child_pid), timeout=15)
    finally:
        os.kill(holder_pid, signal.SIGKILL)
        stand_in.stdout.close()


def _ended(pid: int) -> bool:
    """The process has exited: it is gone, or a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"
