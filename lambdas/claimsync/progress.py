"""What a claim-sync execution is doing, told from its Step Functions execution history.

``claimsync sync --follow`` (against AWS or the local world) feeds each history event, in order, to a
:class:`ProgressTracker` and prints what it returns: the run's phases with their elapsed times, the
page count of the Map, waits and retries as they happen. The history is the only source, so the same
code serves both worlds, and a run can be followed again from any machine that may read it.

Phases, in order (report and payors run in parallel):

========== ===========================================================================
phase      states
========== ===========================================================================
prepare    PrepareRun (InputRejected), AcquireLock (AlreadyRunning), LoadCheckpoint
report     StartReport, WaitForReport, CheckReport, IsReportReady, ReportStaged
payors     LoadPayors
transform  TransformPages (the Map) and its TransformPage iterations
upload     StartUpload, IsUploadPending, WaitForUpload, CheckUpload
finish     FinishRun, IsDryRun, SaveCheckpoint, RecordRun, ReleaseLock, Done, and the failure path
========== ===========================================================================

Only counts, poll intervals and error names/messages are read from the history: the state payloads
carry S3 keys and counts, never claim data, and the error messages of claimsync's exceptions name
codes and operations, never values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

PHASES: Final = ("prepare", "report", "payors", "transform", "upload", "finish")

# State name -> phase. ``None``: a container whose children carry the phases (the Parallel).
STATE_PHASES: Final[Mapping[str, str | None]] = {
    "PrepareRun": "prepare",
    "AcquireLock": "prepare",
    "AlreadyRunning": "prepare",
    "LoadCheckpoint": "prepare",
    "GatherSources": None,
    "StartReport": "report",
    "WaitForReport": "report",
    "CheckReport": "report",
    "IsReportReady": "report",
    "ReportStaged": "report",
    "LoadPayors": "payors",
    "TransformPages": "transform",
    "TransformPage": "transform",
    "StartUpload": "upload",
    "IsUploadPending": "upload",
    "WaitForUpload": "upload",
    "CheckUpload": "upload",
    "FinishRun": "finish",
    "IsDryRun": "finish",
    "SaveCheckpoint": "finish",
    "RecordRun": "finish",
    "ReleaseLock": "finish",
    "Done": "finish",
    # the failure path: every Catch leads here (a rejected input ends the run before it has a lock)
    "InputRejected": "prepare",
    "AcquireLockFailed": "finish",
    "LoadCheckpointFailed": "finish",
    "GatherSourcesFailed": "finish",
    "TransformPagesFailed": "finish",
    "StartUploadFailed": "finish",
    "CheckUploadFailed": "finish",
    "FinishRunFailed": "finish",
    "SaveCheckpointFailed": "finish",
    "RecordRunFailed": "finish",
    "RecordFailure": "finish",
    "ReleaseLockAfterFailure": "finish",
    "RunFailed": "finish",
}
FAILURE_PATH: Final = frozenset(
    {
        "InputRejected",
        "AcquireLockFailed",
        "LoadCheckpointFailed",
        "GatherSourcesFailed",
        "TransformPagesFailed",
        "StartUploadFailed",
        "CheckUploadFailed",
        "FinishRunFailed",
        "SaveCheckpointFailed",
        "RecordRunFailed",
        "RecordFailure",
        "ReleaseLockAfterFailure",
        "RunFailed",
    }
)
MAP_STATE: Final = "TransformPages"

# (first wait, later waits) of each Wait state; {s} is the number of seconds the state machine waits.
WAIT_TEXTS: Final[Mapping[str, tuple[str, str]]] = {
    "WaitForReport": (
        "CollaborateMD report requested — first check in {s} s",
        "CollaborateMD report still running — next check in {s} s",
    ),
    "WaitForUpload": (
        "Bulk job(s) handed to Salesforce — first check in {s} s",
        "Salesforce still processing the Bulk job(s) — next check in {s} s",
    ),
}

# Salesforce gateway operations (``SalesforceError.operation``) as an operator reads them.
SALESFORCE_OPERATIONS: Final[Mapping[str, str]] = {
    "login": "the login",
    "query": "a query",
    "query_more": "a query",
    "collections_upsert": "the Collections upsert",
    "collections_create": "the Collections create",
    "bulk_create_job": "the Bulk job creation",
    "bulk_upload": "the Bulk upload",
    "bulk_close": "the Bulk job close",
    "bulk_abort": "the Bulk job abort",
    "bulk_get_job": "the Bulk job status check",
    "bulk_results": "the Bulk results download",
    "limits": "the limits check",
}
ERROR_TEXTS: Final[Mapping[str, str]] = {
    "CmdUnavailable": "CollaborateMD unavailable",
    "CmdReportBusy": "CollaborateMD is still running an earlier report",
    "CmdAuthError": "CollaborateMD refused the credentials",
    "CmdReportFailed": "the CollaborateMD report failed",
    "CmdReportRejected": "CollaborateMD cannot run the report as configured",
    "CmdBadResponse": "CollaborateMD answered outside its contract",
    "ReportDeadlineExceeded": "the CollaborateMD report was still running at the report deadline"
    " (report_deadline_seconds)",
    "UploadDeadlineExceeded": "Salesforce had not finished the Bulk job(s) at the upload deadline"
    " (upload_deadline_seconds)",
    "ReportFormatError": "the CollaborateMD report cannot be read",
    "ReportDownloadCorrupt": "the CollaborateMD report ZIP arrived damaged",
    "SalesforceUnavailable": "Salesforce unavailable",
    "SalesforceLimitExceeded": "Salesforce API limit reached",
    "SalesforceLockError": "Salesforce row lock",
    "SalesforceAuthError": "Salesforce refused the login",
    "BulkJobRejected": "Salesforce rejected the Bulk job",
    "AccountingError": "the run's accounting does not add up (a bug: keep the run's files)",
    "InvalidInput": "the execution input was rejected",
    "States.Timeout": "a state timed out",
    "Sandbox.Timedout": "a Lambda function timed out",
}

# Errors whose text says all their message would (it only repeats it).
_SELF_EXPLAINED: Final = frozenset({"ReportDeadlineExceeded", "UploadDeadlineExceeded"})

_TASK_FAILURES: Final = frozenset(
    {
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "ActivityFailed",
        "ActivityTimedOut",
        "ActivityScheduleFailed",
    }
)
_TASK_SUCCESSES: Final = frozenset({"LambdaFunctionSucceeded", "TaskSucceeded", "ActivitySucceeded"})
_EXECUTION_ENDS: Final[Mapping[str, str]] = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionAborted": "ABORTED",
    "ExecutionTimedOut": "TIMED_OUT",
}
_SF_MESSAGE: Final = re.compile(r"^(?P<code>[A-Za-z_]+) \((?P<op>[a-z_]+)(?:, HTTP (?P<status>\d{3}))?\)$")
_MAX_MESSAGE: Final = 160
DEFAULT_MAX_ATTEMPTS: Final = 3  # ASL's default for a Retrier without MaxAttempts


# --------------------------------------------------------------------------------------------------
# What the tracker reports


@dataclass(frozen=True)
class PhaseEnded:
    phase: str
    outcome: str  # "done" | "failed" | "stopped"
    elapsed_s: float
    detail: str
    at_s: float


@dataclass(frozen=True)
class Waiting:
    phase: str
    text: str
    seconds: float | None
    at_s: float


@dataclass(frozen=True)
class Retrying:
    phase: str
    text: str
    attempt: int
    max_attempts: int | None
    at_s: float


@dataclass(frozen=True)
class Pages:
    done: int
    total: int
    at_s: float


@dataclass(frozen=True)
class Note:
    phase: str
    text: str
    at_s: float


@dataclass(frozen=True)
class RunEnded:
    execution_status: str
    at_s: float


Update = PhaseEnded | Waiting | Retrying | Pages | Note | RunEnded


# --------------------------------------------------------------------------------------------------
# Reading the definition


@dataclass(frozen=True)
class _StateInfo:
    retry: tuple[tuple[frozenset[str], int], ...] = ()
    seconds: float | None = None
    seconds_path: str | None = None
    branch_end: bool = False


def _state_infos(definition: Mapping[str, Any] | None) -> dict[str, _StateInfo]:
    """Retry rules, wait times and branch ends of every state, nested ones included."""
    infos: dict[str, _StateInfo] = {}

    def walk(states: Mapping[str, Any], in_branch: bool) -> None:
        for name, state in states.items():
            retry = tuple(
                (frozenset(r.get("ErrorEquals", ())), int(r.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS)))
                for r in state.get("Retry", ())
            )
            infos[name] = _StateInfo(
                retry=retry,
                seconds=state.get("Seconds"),
                seconds_path=state.get("SecondsPath"),
                branch_end=in_branch and bool(state.get("End")),
            )
            for branch in state.get("Branches", ()):
                walk(branch.get("States", {}), True)
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor:
                walk(processor.get("States", {}), False)

    if definition:
        walk(definition.get("States", {}), False)
    return infos


def _retrier(info: _StateInfo | None, error: str) -> tuple[int, int] | None:
    """(index, MaxAttempts) of the Retrier that matches ``error``, as Step Functions picks it."""
    if info is None:
        return None
    for index, (errors, max_attempts) in enumerate(info.retry):
        if (
            error in errors
            or "States.ALL" in errors
            or ("States.TaskFailed" in errors and error != "States.Timeout")
        ):
            return index, max_attempts
    return None


def _path_value(document: Any, path: str | None) -> Any:
    """A simple reference path (``$.a.b``) in a decoded document; ``None`` when absent."""
    if path == "$":
        return document
    if not path or not path.startswith("$."):
        return None
    value = document
    for part in path[2:].split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# --------------------------------------------------------------------------------------------------
# Texts


def error_text(error: str | None, cause: str | None) -> str:
    """An error of the history as one line an operator reads: ``Salesforce 503 on the Bulk upload``."""
    message = cause_message(cause)
    name = error or "error"
    if name.startswith("Salesforce") and message:
        match = _SF_MESSAGE.match(message)
        if match:
            what = SALESFORCE_OPERATIONS.get(match["op"], match["op"].replace("_", " "))
            status = match["status"]
            if name == "SalesforceUnavailable":
                return f"Salesforce {status or match['code']} on {what}"
            return f"{ERROR_TEXTS.get(name, name)} ({match['code']}) on {what}"
    text = ERROR_TEXTS.get(name)
    if name in _SELF_EXPLAINED:
        return str(text)
    if text is None:
        return f"{name}: {message}" if message and message != name else name
    if message and message.lower() not in text.lower():
        return f"{text} ({message})"
    return text


def cause_message(cause: str | None, limit: int | None = _MAX_MESSAGE) -> str | None:
    """The message of a history ``cause``: a Lambda error's ``errorMessage`` (no stack trace), first
    line only, shortened to ``limit`` characters."""
    if not cause:
        return None
    text = cause
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        text = str(parsed.get("errorMessage") or parsed.get("Cause") or "")
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if limit is None or len(first) <= limit else first[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------------
# The tracker


@dataclass
class _Entry:
    state: str
    phase: str | None
    failures: dict[int, int]


@dataclass
class _Phase:
    started: float
    open_entries: int = 0
    ended: bool = False


class ProgressTracker:
    """Feed history events in order (``feed``); each call returns what is worth telling.

    ``definition`` is the state machine's definition (DescribeStateMachineForExecution), used for
    retry limits, wait times and branch ends; without it, retries are shown without their limit.
    """

    def __init__(self, definition: Mapping[str, Any] | None = None) -> None:
        self._infos = _state_infos(definition)
        self._events: dict[int, dict[str, Any]] = {}
        self._entries: dict[int, _Entry] = {}  # StateEntered event id -> entry
        self._phases: dict[str, _Phase] = {}
        self._start: datetime | None = None
        self._waits: dict[str, int] = {}
        self._pages_total = 0
        self._pages_done = 0
        self._page_counts: dict[str, int] = {"sent": 0, "unchanged": 0, "rejected": 0}
        self._details: dict[str, str] = {}
        self._last_error: tuple[str | None, str] | None = None  # (phase, text) of an unretried error
        self._upload_round = 1
        self.dry_run = False
        self.status: str | None = None

    # -- public --------------------------------------------------------------------------------------

    def feed(self, event: Mapping[str, Any]) -> list[Update]:
        event = dict(event)
        self._events[int(event["id"])] = event
        kind = str(event["type"])
        at = self._seconds(event)
        if kind == "ExecutionStarted":
            self._start = event.get("timestamp") if isinstance(event.get("timestamp"), datetime) else None
            details = event.get("executionStartedEventDetails", {})
            self.dry_run = bool(_loads(details.get("input")).get("dry_run"))
            return []
        if kind.endswith("StateEntered"):
            return self._entered(event, at)
        if kind.endswith("StateExited"):
            return self._exited(event, at)
        if kind in _TASK_FAILURES:
            return self._task_failed(event, at)
        if kind in _TASK_SUCCESSES:
            return self._task_succeeded(event, at)
        if kind == "MapStateStarted":
            self._pages_total = int(event.get("mapStateStartedEventDetails", {}).get("length", 0))
            return [Pages(0, self._pages_total, at)]
        if kind in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            self._pages_done += 1
            return [Pages(self._pages_done, max(self._pages_total, self._pages_done), at)]
        if kind in _EXECUTION_ENDS:
            self.status = _EXECUTION_ENDS[kind]
            if kind != "ExecutionSucceeded":
                details = _details(event)
                if details.get("error") and self._last_error is None:
                    self._last_error = (None, error_text(details.get("error"), details.get("cause")))
            return [*self._close_all(at, succeeded=kind == "ExecutionSucceeded"), RunEnded(self.status, at)]
        return []

    # -- events --------------------------------------------------------------------------------------

    def _entered(self, event: dict[str, Any], at: float) -> list[Update]:
        name = str(event["stateEnteredEventDetails"]["name"])
        phase = STATE_PHASES.get(name)
        self._entries[int(event["id"])] = _Entry(name, phase, {})
        updates: list[Update] = []
        previous = self._events.get(int(event.get("previousEventId") or 0))
        if name in FAILURE_PATH:
            updates.extend(self._close_open(at, exclude="finish"))
        elif previous is not None and str(previous["type"]).endswith("StateExited"):
            before = STATE_PHASES.get(str(previous["stateExitedEventDetails"]["name"]))
            if before is not None and before != phase:
                updates.extend(self._end(before, "done", self._seconds(previous)))
        if phase is not None:
            state = self._phases.get(phase)
            if state is None:
                state = self._phases[phase] = _Phase(started=at)
            state.open_entries += 1
        if name in WAIT_TEXTS:
            updates.append(self._wait(name, phase or "", event, at))
        elif name == "AlreadyRunning":
            self._details["prepare"] = "another run holds the lock: this one ends as ALREADY_RUNNING"
        return updates

    def _exited(self, event: dict[str, Any], at: float) -> list[Update]:
        name = str(event["stateExitedEventDetails"]["name"])
        phase = STATE_PHASES.get(name)
        if phase is None or phase not in self._phases:
            return []
        state = self._phases[phase]
        state.open_entries = max(0, state.open_entries - 1)
        info = self._infos.get(name)
        if info is not None and info.branch_end and state.open_entries == 0:
            return self._end(phase, "done", at)
        return []

    def _wait(self, name: str, phase: str, event: dict[str, Any], at: float) -> Waiting:
        info = self._infos.get(name)
        seconds: Any = info.seconds if info else None
        if seconds is None and info is not None:
            seconds = _path_value(_loads(event["stateEnteredEventDetails"].get("input")), info.seconds_path)
        count = self._waits.get(name, 0)
        self._waits[name] = count + 1
        first, later = WAIT_TEXTS[name]
        shown = _number(seconds)
        text = (first if count == 0 else later).format(s="?" if shown is None else f"{shown:g}")
        return Waiting(phase, text, shown, at)

    def _task_failed(self, event: dict[str, Any], at: float) -> list[Update]:
        details = _details(event)
        error = str(details.get("error") or "States.TaskFailed")
        text = error_text(error, details.get("cause"))
        entry_id = self._entry_of(event)
        entry = self._entries.get(entry_id) if entry_id is not None else None
        if entry is None:
            self._last_error = (None, text)
            return []
        match = _retrier(self._infos.get(entry.state), error)
        if match is None:
            self._last_error = (entry.phase, text)
            return []
        index, max_attempts = match
        attempt = entry.failures.get(index, 0) + 1
        entry.failures[index] = attempt
        if attempt > max_attempts:
            self._last_error = (entry.phase, f"{text} — gave up after {max_attempts} retries")
            return []
        return [
            Retrying(
                entry.phase or "", f"{text} — retry {attempt} of {max_attempts}", attempt, max_attempts, at
            )
        ]

    def _task_succeeded(self, event: dict[str, Any], at: float) -> list[Update]:
        entry_id = self._entry_of(event)
        entry = self._entries.get(entry_id) if entry_id is not None else None
        if entry is None:
            return []
        details = _details(event)
        output = _loads(details.get("output"))
        if isinstance(output.get("Payload"), dict):  # the lambda:invoke integration wraps the result
            output = output["Payload"]
        name = entry.state
        if name == "CheckReport" and output.get("state") == "READY":
            rows, pages = _number(output.get("rows_in")), _number(output.get("page_count"))
            self._details["report"] = f"{_count(rows)} rows in {_count(pages)} page(s)"
        elif name == "LoadPayors":
            self._details["payors"] = f"{_count(_number(output.get('payor_mappings')))} payor mappings"
        elif name == "TransformPage":
            for key in self._page_counts:
                self._page_counts[key] += int(_number(output.get(key)) or 0)
            counts = self._page_counts
            verb = "would send" if self.dry_run else "to send"
            self._details["transform"] = (
                f"{_count(counts['sent'])} {verb}, {_count(counts['unchanged'])} unchanged, "
                f"{_count(counts['rejected'])} rejected"
            )
        elif name == "StartUpload":
            self._details["upload"] = _upload_text(output)
        elif name == "CheckUpload":
            round_ = int(_number(output.get("round")) or 1)
            if output.get("pending") and round_ > self._upload_round:
                self._upload_round = round_
                return [Note("upload", f"resubmitting rows that failed transiently (round {round_})", at)]
        elif name == "FinishRun" and output.get("status"):
            self._details["finish"] = f"status {output['status']}"
        return []

    # -- phases --------------------------------------------------------------------------------------

    def _end(self, phase: str, outcome: str, at: float, detail: str | None = None) -> list[Update]:
        state = self._phases.get(phase)
        if state is None or state.ended:
            return []
        state.ended = True
        text = detail if detail is not None else self._details.get(phase, "")
        return [PhaseEnded(phase, outcome, max(0.0, at - state.started), text, at)]

    def _close_open(self, at: float, *, exclude: str) -> list[Update]:
        """A failure path was entered: the phase that raised the error failed, the others stopped."""
        updates: list[Update] = []
        failed_phase, text = self._last_error or (None, "")
        for phase in PHASES:
            state = self._phases.get(phase)
            if phase == exclude or state is None or state.ended:
                continue
            if phase == failed_phase or (failed_phase is None and state.open_entries > 0):
                updates.extend(self._end(phase, "failed", at, text))
                failed_phase = phase
            else:
                updates.extend(self._end(phase, "stopped", at, ""))
        return updates

    def _close_all(self, at: float, *, succeeded: bool) -> list[Update]:
        if succeeded:
            updates: list[Update] = []
            for phase in PHASES:
                updates.extend(self._end(phase, "done", at))
            return updates
        updates = self._close_open(at, exclude="finish")
        finish = self._phases.get("finish")
        if finish is not None and not finish.ended:
            failed_here = self._last_error is not None and self._last_error[0] == "finish"
            text = self._last_error[1] if failed_here and self._last_error else "the failure was recorded"
            updates.extend(self._end("finish", "failed" if failed_here else "done", at, text))
        return updates

    # -- helpers -------------------------------------------------------------------------------------

    def _entry_of(self, event: Mapping[str, Any]) -> int | None:
        """The StateEntered event a task event descends from (through ``previousEventId``)."""
        cursor: Mapping[str, Any] | None = event
        for _ in range(10_000):
            if cursor is None:
                return None
            if str(cursor["type"]).endswith("StateEntered"):
                return int(cursor["id"])
            cursor = self._events.get(int(cursor.get("previousEventId") or 0))
        return None

    def _seconds(self, event: Mapping[str, Any]) -> float:
        stamp = event.get("timestamp")
        if self._start is None or not isinstance(stamp, datetime):
            return 0.0
        return max(0.0, (stamp - self._start).total_seconds())


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    """The ``...EventDetails`` object of a history event (each event type has its own key)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _loads(text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _count(value: float | None) -> str:
    return "?" if value is None else f"{int(value):,}"


def _upload_text(output: Mapping[str, Any]) -> str:
    mode = output.get("mode")
    to_send = _count(_number(output.get("sent")))
    if mode == "DRY_RUN":
        return f"dry run: nothing written ({to_send} would be sent)"
    if mode == "NONE":
        return "nothing to send"
    if mode == "COLLECTIONS":
        return f"{to_send} sent through sObject Collections"
    if mode == "BULK":
        return f"{to_send} sent in {_count(_number(output.get('jobs')))} Bulk job(s)"
    return f"{to_send} to send"
