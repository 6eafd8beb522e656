"""Each claim-sync step over in-memory fakes at the domain seam: report adoption, page transform and
snapshot comparison, upload rounds (Collections and Bulk), finish accounting. Milliseconds each."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from claimsync import layout
from claimsync.collaboratemd import CmdReportBusy
from claimsync.report_registry import ReportRequest as Recorded
from claimsync.steps import STEPS
from claimsync.steps.contract import ContractError, from_payload, to_payload
from claimsync.steps.finish import FinishTask, finish_run
from claimsync.steps.page import PageTask, transform_one_page
from claimsync.steps.polling import wait_for_progress
from claimsync.steps.report import (
    ReportRequest,
    ReportStaged,
    ReportTask,
    RunTask,
    check_report,
    start_report,
)
from claimsync.steps.run import InvalidInput, PrepareTask, Run, prepare_run
from claimsync.steps.upload import (
    AccountingError,
    UploadCheckTask,
    UploadProgress,
    UploadTask,
    check_upload,
    load_state,
    start_upload,
)
from tests.unit.fakes import FakeDeps

pytestmark = pytest.mark.unit

RUN = Run("run-1", "2026-12-01T00:00:00Z")


def report_zip(rows: list[dict[str, str]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("report.json", json.dumps(rows))
    return buf.getvalue()


def claim_rows(n: int, **changes: str) -> list[dict[str, str]]:
    from claimsync.mapping_file import load_mapping

    blank = dict.fromkeys(load_mapping().source_columns, "")
    return [
        blank
        | {
            "ClaimID": f"C{i:05d}",
            "PateintNameID": "DOE, J (1)",
            "ClaimTotalAmount": "10.00",
            "PayerID": "P1",
        }
        | changes
        for i in range(n)
    ]


def sync_pages(deps: FakeDeps, rows: list[dict[str, str]], run: Run = RUN) -> ReportStaged:
    """CheckReport (ready at once) and every TransformPage, as the state machine would run them."""
    deps.collaboratemd.data = report_zip(rows)
    deps.staging.put_json(layout.payors_key(run.run_id), [])
    staged = check_report(deps, ReportTask(run, ReportRequest("req", 20, int(deps.now) + 600)))
    assert isinstance(staged, ReportStaged)
    return staged


def transform_all(
    deps: FakeDeps, staged: ReportStaged, run: Run = RUN, checkpoint: dict | None = None
) -> None:
    for page in staged.pages:
        transform_one_page(deps, PageTask(run, page, staged.page_count, checkpoint or {}))


# ---- PrepareRun ---------------------------------------------------------------------------------------


def test_prepare_fixes_the_clock_lock_and_retention_from_now():
    deps = FakeDeps()
    prepared = prepare_run(deps.settings, PrepareTask("r", "t", {"full_sync": True}), 1000.0)
    assert prepared.run == Run(
        "r",
        "t",
        True,
        False,
        "1000",
        str(1000 + 4 * 3600),
        str(1000 + 4 * 3600 + 86400),
        str(1000 + 90 * 86400),
    )
    with pytest.raises(InvalidInput, match="unknown input keys"):
        prepare_run(deps.settings, PrepareTask("r", "t", {"Comment": "x"}), 1000.0)


# ---- StartReport / CheckReport ---------------------------------------------------------------------------


def test_a_busy_start_adopts_the_report_an_earlier_run_left_running():
    deps = FakeDeps()
    deps.collaboratemd.busy = True
    deps.reports.request = Recorded("req-old", "run-0", int(deps.now) - 60)
    request = start_report(deps, RunTask(RUN))
    assert (request.request_id, request.adopted_from) == ("req-old", "run-0")


def test_a_busy_start_without_a_recent_report_of_ours_is_left_to_the_retry():
    deps = FakeDeps()
    deps.collaboratemd.busy = True
    with pytest.raises(CmdReportBusy):
        start_report(deps, RunTask(RUN))
    deps.reports.request = Recorded("req-old", "run-0", int(deps.now) - deps.settings.report_deadline_seconds)
    with pytest.raises(CmdReportBusy):
        start_report(deps, RunTask(RUN))


def test_the_report_is_recorded_while_running_and_forgotten_once_staged():
    deps = FakeDeps()
    deps.collaboratemd.running_polls = 1
    deps.collaboratemd.data = report_zip(claim_rows(3))
    request = start_report(deps, RunTask(RUN))
    assert deps.reports.request is not None and deps.reports.request.run_id == "run-1"
    again = check_report(deps, ReportTask(RUN, request))
    assert isinstance(again, ReportRequest) and again.poll_seconds == 2 * request.poll_seconds
    staged = check_report(deps, ReportTask(RUN, again))
    assert isinstance(staged, ReportStaged) and staged.rows_in == 3
    assert deps.reports.request is None


# ---- TransformPage + snapshot ------------------------------------------------------------------------


def test_pages_compare_with_the_snapshot_even_when_the_page_count_changes():
    deps = FakeDeps()
    rows = claim_rows(40)
    deps.settings = type(deps.settings)(**{**deps.settings.__dict__, "page_size": 10})  # 4 pages
    staged = sync_pages(deps, rows)
    assert staged.page_count == 4
    transform_all(deps, staged)
    deps.salesforce.job_polls = 1
    start_upload(deps, UploadTask(RUN, staged.page_count))
    summary = finish_run(deps, FinishTask(RUN, staged.page_count, staged.rows_in))
    assert summary.sent == 40 and summary.status == "SUCCEEDED"
    checkpoint = {"Item": {"snapshot_prefix": {"S": summary.snapshot_prefix}, "shard_count": {"N": "4"}}}

    second = Run("run-2", "t")
    deps.settings = type(deps.settings)(**{**deps.settings.__dict__, "page_size": 40})  # 1 page now
    rows[3]["ClaimTotalAmount"] = "11.00"
    staged2 = sync_pages(deps, rows, second)
    assert staged2.page_count == 1
    transform_all(deps, staged2, second, checkpoint)
    outcome = deps.json(layout.page_outcome_key("run-2", 0))
    assert (outcome["sent"], outcome["new"], outcome["unchanged"]) == (1, 0, 39)


# ---- StartUpload / CheckUpload ---------------------------------------------------------------------------


def test_collections_retry_rows_that_could_not_lock_then_report_the_rest():
    deps = FakeDeps()
    staged = sync_pages(deps, claim_rows(5))
    transform_all(deps, staged)
    deps.salesforce.lock_failures = {"C00001": 1, "C00002": 99}
    progress = start_upload(deps, UploadTask(RUN, staged.page_count))
    assert progress == UploadProgress(False, "COLLECTIONS", 5)
    state = load_state(deps, RUN.run_id)
    assert state.succeeded == 4 and set(state.failures) == {"C00002"}
    assert state.failures["C00002"].code == "UNABLE_TO_LOCK_ROW"
    summary = finish_run(deps, FinishTask(RUN, staged.page_count, 5))
    assert (summary.succeeded, summary.failed, summary.status) == (4, 1, "PARTIAL")
    index = deps.json(layout.claim_index_key(RUN.run_id, 0))
    assert index["c00002"] == [
        {
            "claim": "C00002",
            "outcome": "new",
            "payor": "Unmapped",
            "result": "failed",
            "error": "UNABLE_TO_LOCK_ROW",
        }
    ]
    assert index["c00001"][0]["result"] == "succeeded"


def test_the_claim_index_tells_each_rows_story():
    deps = FakeDeps()
    rows = claim_rows(3)
    rows.append(dict(rows[0]) | {"ClaimTotalAmount": "lots"})  # C00000 again, later and invalid
    rows.append(dict(rows[1]))  # C00001 again: the earlier row is the duplicate
    staged = sync_pages(deps, rows)
    transform_all(deps, staged)
    start_upload(deps, UploadTask(RUN, staged.page_count))
    finish_run(deps, FinishTask(RUN, staged.page_count, 5))
    index = deps.json(layout.claim_index_key(RUN.run_id, 0))
    assert sorted((e["row"], e["outcome"], e["reasons"]) for e in index["c00000"]) == [
        (1, "rejected", ["DUPLICATE_CLAIM_ID:ClaimID"]),  # a later row of the claim wins...
        (4, "rejected", ["INVALID_AMOUNT:ClaimTotalAmount"]),  # ...and is itself invalid
    ]
    assert sorted(e["outcome"] for e in index["c00001"]) == ["new", "rejected"]
    assert index["c00002"][0]["outcome"] == "new" and index["c00002"][0]["result"] == "succeeded"


def _thirty_claims_for_bulk(deps: FakeDeps, **settings: int) -> ReportStaged:
    """30 claims staged and transformed, with settings that send them through Bulk."""
    deps.settings = type(deps.settings)(**{**deps.settings.__dict__, "collections_max_rows": 2, **settings})
    staged = sync_pages(deps, claim_rows(30))
    transform_all(deps, staged)
    return staged


def test_bulk_polls_until_done_then_resubmits_locked_rows_in_a_new_round():
    deps = FakeDeps()
    staged = _thirty_claims_for_bulk(deps)
    deps.salesforce.job_polls = 2
    deps.salesforce.lock_failures = {f"C{i:05d}": 1 for i in range(5)}
    progress = start_upload(deps, UploadTask(RUN, staged.page_count))
    assert progress.pending and progress.mode == "BULK" and progress.jobs == 1
    polls = 0
    while progress.pending:
        deps.now += progress.poll_seconds
        progress = check_upload(deps, UploadCheckTask(RUN, progress))
        polls += 1
        assert polls < 10
    assert progress.round == 2, "the 5 locked rows went back in a second Bulk job"
    summary = finish_run(deps, FinishTask(RUN, staged.page_count, 30))
    assert (summary.sent, summary.succeeded, summary.failed) == (30, 30, 0)
    assert set(deps.salesforce.records) == {f"C{i:05d}" for i in range(30)}


def test_finish_takes_failed_claims_out_of_the_snapshot_and_marks_them_in_the_index():
    from claimsync.staging import claim_bucket
    from claimsync.transform import external_id_key

    deps = FakeDeps()
    staged = _thirty_claims_for_bulk(deps)
    deps.salesforce.lock_failures = {"C00003": 99}  # fails past every retry round
    progress = start_upload(deps, UploadTask(RUN, staged.page_count))
    for _ in range(10):
        if not progress.pending:
            break
        deps.now += progress.poll_seconds
        progress = check_upload(deps, UploadCheckTask(RUN, progress))
    summary = finish_run(deps, FinishTask(RUN, staged.page_count, 30))
    assert (summary.sent, summary.succeeded, summary.failed) == (30, 29, 1)
    snapshot: dict[str, str] = {}
    for page in range(staged.page_count):
        snapshot.update(deps.json(layout.snapshot_shard_key(summary.snapshot_prefix, page)))
    assert set(snapshot) == {f"C{i:05d}" for i in range(30)} - {"C00003"}, "the next run sends it again"
    failed_page = claim_bucket(external_id_key("C00003"), staged.page_count)
    for page in range(staged.page_count):
        index = deps.json(layout.claim_index_key(RUN.run_id, page))
        for key, entries in index.items():
            expected = ("failed", "UNABLE_TO_LOCK_ROW") if key == "c00003" else ("succeeded", None)
            assert (entries[0]["result"], entries[0].get("error")) == expected
            assert key != "c00003" or page == failed_page


def test_a_check_polls_only_the_jobs_not_yet_seen_final(monkeypatch):
    import functools

    from claimsync.bulk_csv import bulk_documents
    from claimsync.steps import upload

    deps = FakeDeps()
    staged = _thirty_claims_for_bulk(deps)
    monkeypatch.setattr(upload, "bulk_documents", functools.partial(bulk_documents, max_bytes=1_500))
    progress = start_upload(deps, UploadTask(RUN, staged.page_count))
    jobs = list(deps.salesforce.jobs.values())
    assert progress.jobs == len(jobs) >= 3
    jobs[0].polls_left = 1  # done at the first check; the others need three
    for job in jobs[1:]:
        job.polls_left = 3
    checks = 0
    while progress.pending:
        deps.now += progress.poll_seconds
        progress = check_upload(deps, UploadCheckTask(RUN, progress))
        checks += 1
        assert checks < 10
    assert checks == 3
    assert deps.salesforce.calls["bulk_job"] == 1 + 3 * (len(jobs) - 1)
    assert finish_run(deps, FinishTask(RUN, staged.page_count, 30)).succeeded == 30


def test_the_first_bulk_wait_is_when_the_last_job_should_be_done_counted_from_each_close(monkeypatch):
    """StartUpload closes each job as soon as it is sent; Salesforce works on the run's jobs in
    parallel, each from its close, while the next ones are built. The first wait is when the last
    one should be done at the assumed rate (a tenth of margin), counted from each job's close."""
    import functools
    import math

    from claimsync.bulk_csv import bulk_documents
    from claimsync.steps import upload

    deps = FakeDeps()
    staged = _thirty_claims_for_bulk(deps, upload_poll_seconds=1, bulk_records_per_second=1)
    monkeypatch.setattr(upload, "bulk_documents", functools.partial(bulk_documents, max_bytes=1_500))
    real_create, real_close, closed = deps.salesforce.bulk_create_job, deps.salesforce.bulk_close, {}

    def slow_to_build(*args: str) -> str:
        deps.now += 4  # each job's document took 4 s to build
        return real_create(*args)

    def close(job_id: str) -> None:
        real_close(job_id)
        closed[job_id] = deps.now

    monkeypatch.setattr(deps.salesforce, "bulk_create_job", slow_to_build)
    monkeypatch.setattr(deps.salesforce, "bulk_close", close)
    progress = start_upload(deps, UploadTask(RUN, staged.page_count))
    jobs = deps.salesforce.jobs
    assert progress.jobs == len(jobs) >= 3 and progress.pending
    expected = max(math.ceil(1.1 * len(jobs[j].rows)) - int(deps.now - closed[j]) for j in jobs)
    assert progress.poll_seconds == expected
    assert expected < math.ceil(1.1 * 30)  # all 30 records from the end of StartUpload, one job at a time


def test_a_slow_start_cannot_stretch_a_bulk_wait_beyond_the_time_the_job_has_run(monkeypatch):
    """Salesforce queues and checks a job before it processes rows: a rate measured then is far too
    low. Each wait is at most the time the job has run so far, so polls double instead of the run
    sleeping for the cap."""
    deps = FakeDeps()
    staged = _thirty_claims_for_bulk(deps, upload_poll_seconds=1, bulk_records_per_second=30)
    deps.salesforce.job_polls = 6
    real_bulk_job = deps.salesforce.bulk_job

    def barely_moving(job_id: str) -> dict:
        info = real_bulk_job(job_id)
        if info["state"] != "JobComplete":
            info["numberRecordsProcessed"] = 6 - deps.salesforce.jobs[job_id].polls_left  # 1, 2, ...
        return info

    monkeypatch.setattr(deps.salesforce, "bulk_job", barely_moving)
    progress = start_upload(deps, UploadTask(RUN, staged.page_count))
    submitted, waits = deps.now, [progress.poll_seconds]
    while progress.pending:
        deps.now += progress.poll_seconds
        progress = check_upload(deps, UploadCheckTask(RUN, progress))
        if progress.pending:
            assert progress.poll_seconds <= deps.now - submitted, "a wait longer than the job has run"
            waits.append(progress.poll_seconds)
        assert len(waits) < 10
    assert waits == [2, 2, 4, 8, 16, 32]  # at ~1 record/s, the estimate alone would be ~30 s each time
    assert finish_run(deps, FinishTask(RUN, staged.page_count, 30)).succeeded == 30


def test_the_first_bulk_wait_grows_with_the_job_and_later_ones_follow_progress():
    assert wait_for_progress(1_000, None, floor_s=5, cap_s=60, assumed_rate_per_s=2000) == 5
    assert wait_for_progress(100_000, None, floor_s=5, cap_s=60, assumed_rate_per_s=2000) == 55
    assert wait_for_progress(50_000, 10_000.0, floor_s=5, cap_s=60, assumed_rate_per_s=2000) == 6
    assert wait_for_progress(10**7, 1.0, floor_s=5, cap_s=60, assumed_rate_per_s=2000) == 60


# ---- FinishRun -------------------------------------------------------------------------------------------


def test_finish_refuses_counts_that_do_not_add_up():
    deps = FakeDeps()
    staged = sync_pages(deps, claim_rows(4))
    transform_all(deps, staged)
    start_upload(deps, UploadTask(RUN, staged.page_count))
    with pytest.raises(AccountingError, match="rows_in"):
        finish_run(deps, FinishTask(RUN, staged.page_count, 5))


def test_a_dry_run_sends_nothing_and_moves_no_snapshot():
    deps = FakeDeps()
    dry = Run("run-d", "t", dry_run=True)
    staged = sync_pages(deps, claim_rows(4), dry)
    transform_all(deps, staged, dry)
    progress = start_upload(deps, UploadTask(dry, staged.page_count))
    assert progress == UploadProgress(False, "DRY_RUN", 4)
    summary = finish_run(deps, FinishTask(dry, staged.page_count, 4))
    assert (summary.status, summary.sent, summary.succeeded, summary.snapshot_prefix) == ("DRY_RUN", 4, 0, "")
    assert deps.salesforce.calls == {}


# ---- contracts ------------------------------------------------------------------------------------------


def test_payloads_round_trip_and_refuse_what_the_contract_does_not_say():
    task = ReportTask(RUN, ReportRequest("r", 20, 99))
    assert from_payload(ReportTask, json.loads(json.dumps(to_payload(task)))) == task
    with pytest.raises(ContractError, match="missing field 'request'"):
        from_payload(ReportTask, {"run": to_payload(RUN)})
    with pytest.raises(ContractError, match="unknown field"):
        from_payload(RunTask, {"run": to_payload(RUN), "extra": 1})
    with pytest.raises(ContractError, match="expected an integer"):
        from_payload(ReportRequest, {"request_id": "r", "poll_seconds": "20", "deadline": 1})


def test_every_step_is_declared_with_its_task_type():
    assert set(STEPS) == {
        "PrepareRun", "StartReport", "CheckReport", "LoadPayors", "TransformPage", "StartUpload",
        "CheckUpload", "FinishRun",
    }  # fmt: skip


# ---- what each step reaches = what its function declares (the grants of the deployed function) ---------


class Recording:
    """Deps that note which of them a step reached."""

    def __init__(self, deps: FakeDeps) -> None:
        self._deps, self.reached = deps, set()

    def __getattr__(self, name: str):
        self.reached.add(name)
        return getattr(self._deps, name)


def test_each_step_reaches_exactly_what_its_function_declares():
    deps = FakeDeps()
    deps.settings = type(deps.settings)(**{**deps.settings.__dict__, "collections_max_rows": 2})
    deps.collaboratemd.data = report_zip(claim_rows(10))
    deps.salesforce.lock_failures = {"C00001": 1}
    reached: dict[str, set[str]] = {}

    def step(name, task):
        recording = Recording(deps)
        result = STEPS[name].function(recording, task)
        reached.setdefault(name, set()).update(recording.reached)
        return result

    run = step("PrepareRun", PrepareTask("run-x", "t", {})).run
    request = step("StartReport", RunTask(run))
    step("LoadPayors", RunTask(run))
    staged = step("CheckReport", ReportTask(run, request))
    for page in staged.pages:
        step("TransformPage", PageTask(run, page, staged.page_count))
    progress = step("StartUpload", UploadTask(run, staged.page_count))
    while progress.pending:
        progress = step("CheckUpload", UploadCheckTask(run, progress))
    step("FinishRun", FinishTask(run, staged.page_count, staged.rows_in))

    for spec in layout.SYNC_FUNCTIONS:
        used = reached[spec.name]
        declared = {
            "staging": spec.staging,
            "salesforce": spec.salesforce,
            "collaboratemd": spec.collaboratemd,
            "reports": spec.sync_table,
        }
        assert {k for k, v in declared.items() if v} == used & set(declared), spec.name


# ---- staged claims: unique external ids without remembering them -------------------------------------


def test_a_page_cannot_stage_an_external_id_twice():
    from claimsync.bulk_csv import DuplicateExternalIdError
    from claimsync.steps.staged import StagedClaim, encode_claims

    with pytest.raises(DuplicateExternalIdError) as caught:
        encode_claims([StagedClaim("clm-1", None, "clm-1,r\n"), StagedClaim("CLM-1", "a0B1", "CLM-1,r\n")], 1)
    assert "clm-1" not in str(caught.value).lower()


def test_a_claim_read_from_a_page_its_id_does_not_hash_to_is_refused():
    from claimsync.bulk_csv import DuplicateExternalIdError
    from claimsync.staging import claim_bucket
    from claimsync.steps.staged import StagedClaim, encode_claims, page_claims
    from claimsync.transform import external_id_key

    claim = StagedClaim("C00007", None, "C00007,#N/A,r\n")
    home = claim_bucket(external_id_key(claim.claim_number), 8)
    lines = encode_claims([claim], 2).splitlines(keepends=True)
    assert list(page_claims(lines, home, 8, 2)) == [claim]
    with pytest.raises(DuplicateExternalIdError):
        list(page_claims(lines, (home + 1) % 8, 8, 2))


def test_a_staged_claim_of_another_width_than_the_mapping_is_refused():
    from claimsync.staging import claim_bucket
    from claimsync.steps.staged import StagedClaim, StagedFileError, encode_claims, page_claims
    from claimsync.transform import external_id_key

    claim = StagedClaim("C00007", "a0B1", "C00007,a0B1,#N/A,r\n")
    home = claim_bucket(external_id_key(claim.claim_number), 8)
    lines = encode_claims([claim], 3).splitlines(keepends=True)
    assert list(page_claims(lines, home, 8, 3)) == [claim]
    with pytest.raises(StagedFileError, match="3 values, the mapping 4 columns"):
        list(page_claims(lines, home, 8, 4))


def test_a_staged_claim_is_its_bulk_line_and_gives_its_values_back_exactly():
    from claimsync.bulk_csv import BulkRows
    from claimsync.staging import claim_bucket
    from claimsync.steps.staged import StagedClaim, encode_claims, page_claims
    from claimsync.transform import external_id_key

    deps = FakeDeps()
    columns = deps.mapping.columns
    awkward = ['a "quoted", comma', "two\nlines", "\u00e9t\u00e9 \U0001f600", " padded ", "plain"]
    values = tuple([awkward[i % len(awkward)] if i % 3 else None for i in range(len(columns))])
    claim = StagedClaim("C00042", "a0B1", BulkRows(deps.mapping, "run-7").line(values))

    assert claim.csv.endswith(",run-7\n") and "#N/A" in claim.csv
    assert claim.values == values  # None stays None, every text comes back as it was
    home = claim_bucket(external_id_key(claim.claim_number), 4)
    lines = encode_claims([claim], len(columns)).splitlines(keepends=True)
    assert len(lines) == 1  # a value's newline stays inside the JSON line
    assert list(page_claims(lines, home, 4, len(columns))) == [claim]


def test_staged_claims_merge_in_bulk_order_across_pages():
    from claimsync import layout
    from claimsync.staging import claim_bucket
    from claimsync.steps.staged import StagedClaim, encode_claims, staged_claims
    from claimsync.transform import external_id_key

    deps = FakeDeps()
    width = len(deps.mapping.columns)
    payors = [None, "a0B2", "a0B1", None, "a0B1"]
    claims = [
        StagedClaim(f"C{i:03d}", payors[i % 5], f"C{i:03d}" + ",#N/A" * (width - 1) + ",r\n")
        for i in range(40)
    ]
    by_page: dict[int, list[StagedClaim]] = {}
    for claim in claims:
        by_page.setdefault(claim_bucket(external_id_key(claim.claim_number), 4), []).append(claim)
    for page, held in by_page.items():
        body = encode_claims(sorted(held, key=StagedClaim.bulk_order), width)
        deps.staging.put_bytes(layout.changes_key("r", page), body)
    merged = list(staged_claims(deps, "r", sorted(by_page), 4))
    assert merged == sorted(claims, key=StagedClaim.bulk_order)
    assert [c.payor_record_id for c in merged[:16]] == [None] * 16
