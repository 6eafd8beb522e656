"""Reading an abnormal end: the EventBridge event, and what the execution was doing when it ended."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from claimsync import layout
from claimsync.runend.activity import (
    LAMBDA_GRACE_S,
    SETTLE_RESERVE_S,
    UPLOAD_POLL_S,
    LastActivity,
    UploadStillRunning,
    last_activity,
    wait_for_upload_lambda,
)
from claimsync.runend.event import ExecutionEnd, NotAnExecutionEnd

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
    end = ExecutionEnd.from_event(event())
    assert end.run_id == "manual-20250304T050000Z-1a2b3c4d"
    assert end.execution_arn.endswith(":execution:claimsync-claim-sync:" + end.run_id)
    assert (end.status, end.error) == ("ABORTED", "")
    assert (end.started_at, end.stopped_at) == ("2025-03-04T05:00:00.123Z", "2025-03-04T05:06:47.456Z")
    assert end.abnormal


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT", "FAILED"])
def test_the_three_abnormal_statuses_and_only_they_are_settled(status):
    e = event()
    e["detail"]["status"] = status
    assert ExecutionEnd.from_event(e).abnormal
    e["detail"]["status"] = "SUCCEEDED"
    assert not ExecutionEnd.from_event(e).abnormal


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
    with pytest.raises(NotAnExecutionEnd):
        ExecutionEnd.from_event(broken)


def test_an_error_name_is_kept_and_a_missing_stop_date_is_the_start():
    e = event()
    e["detail"].update(status="FAILED", error="States.Runtime", stopDate=None)
    end = ExecutionEnd.from_event(e)
    assert (end.error, end.stopped_at) == ("States.Runtime", end.started_at)


# ---- the history -----------------------------------------------------------------------------------
class Clock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self, now: float) -> None:
        self.t = now
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.slept.append(seconds)
        self.t += seconds


STOPPED = epoch("2025-03-04T05:06:47.456Z")  # the run of history_aborted_in_start_upload.json
STARTED = epoch("2025-03-04T05:06:30.000Z")  # its StartUpload attempt (LambdaFunctionStarted)


def test_an_upload_lambda_running_at_the_end_is_found_with_its_start_and_deadline():
    activity = last_activity(history("history_aborted_in_start_upload.json"))
    assert activity.state == "StartUpload"
    assert activity.upload_started_at == STARTED  # Started, not Scheduled
    assert activity.upload_running_until == STARTED + UPLOAD_TIMEOUT_S + LAMBDA_GRACE_S


def test_the_wait_ends_when_the_running_upload_lambda_saved_the_upload_state():
    activity = last_activity(history("history_aborted_in_start_upload.json"))
    clock = Clock(STOPPED)
    saved = int(STOPPED) + 12  # StartUpload saves its state (its last act) 12 s after the stop

    waited = wait_for_upload_lambda(
        activity,
        saved_at=lambda: float(saved) if clock.t >= saved else None,
        now=clock.now,
        sleep=clock.sleep,
        remaining_s=lambda: 900.0,
    )
    assert 12 - 1 <= waited <= 12 + UPLOAD_POLL_S
    assert max(clock.slept) <= UPLOAD_POLL_S


def test_a_save_from_before_the_attempt_does_not_count_and_the_timeout_ends_the_wait():
    activity = last_activity(history("history_aborted_in_start_upload.json"))
    clock = Clock(STOPPED)
    waited = wait_for_upload_lambda(
        activity,
        saved_at=lambda: STARTED - 30,  # an earlier state's save
        now=clock.now,
        sleep=clock.sleep,
        remaining_s=lambda: 10_000.0,
    )
    assert clock.t == activity.upload_running_until
    assert waited == pytest.approx(activity.upload_running_until - STOPPED)


def test_a_wait_past_the_invocations_time_fails_it_so_the_event_comes_back():
    activity = last_activity(history("history_aborted_in_start_upload.json"))
    clock = Clock(STOPPED)
    left = [300.0]

    def remaining() -> float:
        return left[0] - (clock.t - STOPPED)

    with pytest.raises(UploadStillRunning):
        wait_for_upload_lambda(
            activity, saved_at=lambda: None, now=clock.now, sleep=clock.sleep, remaining_s=remaining
        )
    assert remaining() <= SETTLE_RESERVE_S, "it kept the time to settle after the wait"
    assert clock.t < activity.upload_running_until


def test_a_retried_attempt_runs_from_its_own_start():
    activity = last_activity(history("history_aborted_in_check_upload_retry.json"))
    assert activity.state == "CheckUpload"
    started = epoch("2025-03-04T05:19:50.000Z")
    timeout = next(s.timeout_s for s in layout.SYNC_FUNCTIONS if s.name == "CheckUpload")
    assert activity.upload_started_at == started
    assert activity.upload_running_until == started + timeout + LAMBDA_GRACE_S


def test_no_lambda_running_means_no_wait():
    activity = last_activity(history("history_aborted_in_wait_for_upload.json"))
    assert activity == LastActivity("WaitForUpload")

    def never() -> float | None:
        raise AssertionError("nothing to look at")

    assert (
        wait_for_upload_lambda(
            activity, saved_at=never, now=lambda: 0.0, sleep=lambda s: None, remaining_s=lambda: 0.0
        )
        == 0.0
    )


def test_a_running_lambda_that_creates_no_bulk_job_is_not_waited_for():
    events = history("history_aborted_in_start_upload.json")
    for e in events:
        if e.get("stateEnteredEventDetails", {}).get("name") == "StartUpload":
            e["stateEnteredEventDetails"]["name"] = "FinishRun"
    assert last_activity(events) == LastActivity("FinishRun")


def test_history_order_does_not_matter_and_an_empty_history_is_harmless():
    events = history("history_aborted_in_start_upload.json")
    assert last_activity(list(reversed(events))) == last_activity(events)
    assert last_activity([]) == LastActivity("")
