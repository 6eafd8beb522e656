"""Reading an abnormal end: the EventBridge event, and what the execution was doing when it ended."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from claimsync import layout, runend

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).parent / "events"
UPLOAD_TIMEOUT_S = next(s.timeout_s for s in layout.SYNC_FUNCTIONS if s.name == "StartUpload")


def event(name: str = "execution_aborted.json") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def history(name: str) -> list[dict[str, Any]]:
    """A get_execution_history page as boto3 returns it (timestamps as datetimes)."""
    events = json.loads((EVENTS / name).read_text())["events"]
    for e in events:
        e["timestamp"] = dt.datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00"))
    return events


def epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# ---- the event -------------------------------------------------------------------------------------
def test_the_status_change_event_is_read_as_eventbridge_sends_it():
    end = runend.ExecutionEnd.from_event(event())
    assert end.run_id == "manual-20250304T050000Z-1a2b3c4d"
    assert end.execution_arn.endswith(":execution:claimsync-claim-sync:" + end.run_id)
    assert (end.status, end.error) == ("ABORTED", "")
    assert (end.started_at, end.stopped_at) == ("2025-03-04T05:00:00.123Z", "2025-03-04T05:06:47.456Z")
    assert end.abnormal


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT", "FAILED"])
def test_the_three_abnormal_statuses_and_only_they_are_settled(status):
    e = event()
    e["detail"]["status"] = status
    assert runend.ExecutionEnd.from_event(e).abnormal
    e["detail"]["status"] = "SUCCEEDED"
    assert not runend.ExecutionEnd.from_event(e).abnormal


def _without(path: str) -> dict[str, Any]:
    e = copy.deepcopy(event())
    *parents, leaf = path.split(".")
    target = e
    for p in parents:
        target = target[p]
    del target[leaf]
    return e


@pytest.mark.parametrize(
    "broken",
    [
        {**event(), "detail-type": "Step Functions State Machine Status Change"},
        {**event(), "source": "aws.events"},
        {**event(), "detail": "not an object"},
        _without("detail.name"),
        _without("detail.startDate"),
        {**event(), "detail": {**event()["detail"], "name": "another-execution"}},
        {**event(), "detail": {**event()["detail"], "startDate": "yesterday"}},
    ],
    ids=["detail-type", "source", "detail", "name", "startDate", "name-not-in-arn", "startDate-garbled"],
)
def test_other_events_are_refused_with_their_own_error(broken):
    with pytest.raises(runend.NotAnExecutionEnd):
        runend.ExecutionEnd.from_event(broken)


def test_an_error_name_is_kept_and_a_missing_stop_date_is_the_start():
    e = event()
    e["detail"].update(status="FAILED", error="States.Runtime", stopDate=None)
    end = runend.ExecutionEnd.from_event(e)
    assert (end.error, end.stopped_at) == ("States.Runtime", end.started_at)


# ---- the history -----------------------------------------------------------------------------------
def test_an_upload_lambda_running_at_the_end_is_waited_out():
    activity = runend.last_activity(history("history_aborted_in_start_upload.json"))
    assert activity.state == "StartUpload"
    started = epoch("2025-03-04T05:06:30.000Z")  # LambdaFunctionStarted, not Scheduled
    assert activity.upload_running_until == started + UPLOAD_TIMEOUT_S + runend.LAMBDA_GRACE_S
    stopped = epoch("2025-03-04T05:06:47.456Z")
    wait = runend.upload_wait(activity, stopped, remaining_s=900)
    assert wait == pytest.approx(UPLOAD_TIMEOUT_S + runend.LAMBDA_GRACE_S - 17.456)


def test_a_wait_past_the_invocations_time_fails_it_so_the_event_comes_back():
    activity = runend.last_activity(history("history_aborted_in_start_upload.json"))
    stopped = epoch("2025-03-04T05:06:47.456Z")
    with pytest.raises(runend.UploadStillRunning):
        runend.upload_wait(activity, stopped, remaining_s=300)
    later = activity.upload_running_until
    assert later is not None and runend.upload_wait(activity, later + 1, remaining_s=61) == 0.0


def test_a_retried_attempt_runs_from_its_own_start():
    activity = runend.last_activity(history("history_aborted_in_check_upload_retry.json"))
    assert activity.state == "CheckUpload"
    expected = epoch("2025-03-04T05:19:50.000Z") + UPLOAD_TIMEOUT_S + runend.LAMBDA_GRACE_S
    assert activity.upload_running_until == expected


def test_no_lambda_running_means_no_wait():
    activity = runend.last_activity(history("history_aborted_in_wait_for_upload.json"))
    assert activity == runend.LastActivity("WaitForUpload", None)
    assert runend.upload_wait(activity, 0.0, remaining_s=0.0) == 0.0


def test_a_running_lambda_that_creates_no_bulk_job_is_not_waited_for():
    events = history("history_aborted_in_start_upload.json")
    for e in events:
        if e.get("stateEnteredEventDetails", {}).get("name") == "StartUpload":
            e["stateEnteredEventDetails"]["name"] = "FinishRun"
    assert runend.last_activity(events) == runend.LastActivity("FinishRun", None)


def test_history_order_does_not_matter_and_an_empty_history_is_harmless():
    events = history("history_aborted_in_start_upload.json")
    assert runend.last_activity(list(reversed(events))) == runend.last_activity(events)
    assert runend.last_activity([]) == runend.LastActivity("", None)
