"""The progress tracker: feed it a claim-sync execution's history events, in order, and it tells
what is worth telling (``claimsync.progress.updates``): phases ending, waits, retries, pages done.

See the package docstring (``claimsync.progress``) for the phases and what is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from claimsync.history import TASK_FAILURES, TASK_SUCCESSES, entered_state, event_details, json_object
from claimsync.progress.details import (
    number,
    payors_text,
    report_text,
    task_output,
    transform_text,
    upload_text,
)
from claimsync.progress.error_texts import error_text
from claimsync.progress.states import (
    FAILURE_PATH,
    STATE_PHASES,
    WAIT_TEXTS,
    path_value,
    retrier,
    state_infos,
)
from claimsync.progress.updates import (
    PHASES,
    Note,
    Pages,
    PhaseEnded,
    Retrying,
    RunEnded,
    Update,
    Waiting,
)

_MAP_ITERATION_ENDS: Final = frozenset({"MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"})
_EXECUTION_ENDS: Final[Mapping[str, str]] = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionAborted": "ABORTED",
    "ExecutionTimedOut": "TIMED_OUT",
}

_Handler = Callable[[dict[str, Any], float], list[Update]]  # an event at its time -> updates
_Told = Callable[[dict[str, Any], float], list[Update]]  # a task's output at its time -> updates


@dataclass
class _Entry:
    state: str
    phase: str | None
    failures: dict[int, int]  # Retrier index -> failures it matched


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
        self._infos = state_infos(definition)
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
        # what a succeeded task of each state tells (output -> updates; most only set a detail)
        self._on_success: dict[str, _Told] = {
            "CheckReport": self._report_checked,
            "LoadPayors": self._payors_loaded,
            "TransformPage": self._page_transformed,
            "StartUpload": self._upload_started,
            "CheckUpload": self._upload_checked,
            "FinishRun": self._run_finished,
        }

    # -- public --------------------------------------------------------------------------------------

    def feed(self, event: Mapping[str, Any]) -> list[Update]:
        event = dict(event)
        self._events[int(event["id"])] = event
        handler = self._handler(str(event["type"]))
        return handler(event, self._seconds(event)) if handler is not None else []

    def _handler(self, kind: str) -> _Handler | None:
        if kind == "ExecutionStarted":
            return self._execution_started
        if kind.endswith("StateEntered"):
            return self._entered
        if kind.endswith("StateExited"):
            return self._exited
        if kind in TASK_FAILURES:
            return self._task_failed
        if kind in TASK_SUCCESSES:
            return self._task_succeeded
        if kind == "MapStateStarted":
            return self._map_started
        if kind in _MAP_ITERATION_ENDS:
            return self._iteration_ended
        if kind in _EXECUTION_ENDS:
            return self._execution_ended
        return None

    # -- the execution -------------------------------------------------------------------------------

    def _execution_started(self, event: dict[str, Any], at: float) -> list[Update]:
        self._start = event.get("timestamp") if isinstance(event.get("timestamp"), datetime) else None
        details = event.get("executionStartedEventDetails", {})
        self.dry_run = bool(json_object(details.get("input")).get("dry_run"))
        return []

    def _execution_ended(self, event: dict[str, Any], at: float) -> list[Update]:
        kind = str(event["type"])
        self.status = _EXECUTION_ENDS[kind]
        succeeded = kind == "ExecutionSucceeded"
        if not succeeded:
            details = event_details(event)
            if details.get("error") and self._last_error is None:
                self._last_error = (None, error_text(details.get("error"), details.get("cause")))
        return [*self._close_all(at, succeeded=succeeded), RunEnded(self.status, at)]

    # -- states --------------------------------------------------------------------------------------

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
            self._phases.setdefault(phase, _Phase(started=at)).open_entries += 1
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
            entered_input = json_object(event["stateEnteredEventDetails"].get("input"))
            seconds = path_value(entered_input, info.seconds_path)
        count = self._waits.get(name, 0)
        self._waits[name] = count + 1
        first, later = WAIT_TEXTS[name]
        shown = number(seconds)
        text = (first if count == 0 else later).format(s="?" if shown is None else f"{shown:g}")
        return Waiting(phase, text, shown, at)

    # -- the Map -------------------------------------------------------------------------------------

    def _map_started(self, event: dict[str, Any], at: float) -> list[Update]:
        self._pages_total = int(event.get("mapStateStartedEventDetails", {}).get("length", 0))
        return [Pages(0, self._pages_total, at)]

    def _iteration_ended(self, event: dict[str, Any], at: float) -> list[Update]:
        self._pages_done += 1
        return [Pages(self._pages_done, max(self._pages_total, self._pages_done), at)]

    # -- tasks ---------------------------------------------------------------------------------------

    def _task_failed(self, event: dict[str, Any], at: float) -> list[Update]:
        details = event_details(event)
        error = str(details.get("error") or "States.TaskFailed")
        text = error_text(error, details.get("cause"))
        entry = self._entry_of(event)
        if entry is None:
            self._last_error = (None, text)
            return []
        match = retrier(self._infos.get(entry.state), error)
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
        entry = self._entry_of(event)
        told = self._on_success.get(entry.state) if entry is not None else None
        return told(task_output(event), at) if told is not None else []

    def _report_checked(self, output: dict[str, Any], at: float) -> list[Update]:
        if output.get("state") == "READY":
            self._details["report"] = report_text(output)
        return []

    def _payors_loaded(self, output: dict[str, Any], at: float) -> list[Update]:
        self._details["payors"] = payors_text(output)
        return []

    def _page_transformed(self, output: dict[str, Any], at: float) -> list[Update]:
        for key in self._page_counts:
            self._page_counts[key] += int(number(output.get(key)) or 0)
        self._details["transform"] = transform_text(self._page_counts, dry_run=self.dry_run)
        return []

    def _upload_started(self, output: dict[str, Any], at: float) -> list[Update]:
        self._details["upload"] = upload_text(output)
        return []

    def _upload_checked(self, output: dict[str, Any], at: float) -> list[Update]:
        round_ = int(number(output.get("round")) or 1)
        if output.get("pending") and round_ > self._upload_round:
            self._upload_round = round_
            return [Note("upload", f"resubmitting rows that failed transiently (round {round_})", at)]
        return []

    def _run_finished(self, output: dict[str, Any], at: float) -> list[Update]:
        if output.get("status"):
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

    def _entry_of(self, event: Mapping[str, Any]) -> _Entry | None:
        """The entry of the state a task event belongs to (its ``StateEntered`` ancestor)."""
        entered = entered_state(self._events, event)
        return self._entries.get(int(entered["id"])) if entered is not None else None

    def _seconds(self, event: Mapping[str, Any]) -> float:
        stamp = event.get("timestamp")
        if self._start is None or not isinstance(stamp, datetime):
            return 0.0
        return max(0.0, (stamp - self._start).total_seconds())
