"""What the progress tracker knows of the claim-sync state machine.

By name (this module's tables): the phase of each state, the failure path every ``Catch`` leads to,
and how each Wait state reads. From the definition the execution runs (``state_infos``): each
state's retriers, wait time and whether it ends a Parallel branch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

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

DEFAULT_MAX_ATTEMPTS: Final = 3  # ASL's default for a Retrier without MaxAttempts


@dataclass(frozen=True)
class StateInfo:
    retry: tuple[tuple[frozenset[str], int], ...] = ()  # (ErrorEquals, MaxAttempts) of each Retrier
    seconds: float | None = None
    seconds_path: str | None = None
    branch_end: bool = False


def state_infos(definition: Mapping[str, Any] | None) -> dict[str, StateInfo]:
    """Retry rules, wait times and branch ends of every state, nested ones included."""
    infos: dict[str, StateInfo] = {}

    def walk(states: Mapping[str, Any], in_branch: bool) -> None:
        for name, state in states.items():
            retry = tuple(
                (frozenset(r.get("ErrorEquals", ())), int(r.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS)))
                for r in state.get("Retry", ())
            )
            infos[name] = StateInfo(
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


def retrier(info: StateInfo | None, error: str) -> tuple[int, int] | None:
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


def path_value(document: Any, path: str | None) -> Any:
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
