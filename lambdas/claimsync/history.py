"""Reading a Step Functions execution history: the lineage of an event and the parts of one.

Each history event names the event before it in its lineage (``previousEventId``): a task's
``*Scheduled``, ``*Started`` and ``*Succeeded``/``*Failed`` events lead back to the ``*StateEntered``
event of their state. The progress tracker (``claimsync.progress``), the operator's count of state
transitions (``claimsync.operator.execution``) and AbnormalEnd (``claimsync.runend``) follow that
lineage here, each over the events it has.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

Event = Mapping[str, Any]

# Task event types: an attempt is scheduled, started, then fails or succeeds.
TASK_SCHEDULED: Final = frozenset({"LambdaFunctionScheduled", "TaskScheduled", "ActivityScheduled"})
TASK_STARTED: Final = frozenset({"LambdaFunctionStarted", "TaskStarted", "ActivityStarted"})
TASK_FAILURES: Final = frozenset(
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
TASK_SUCCESSES: Final = frozenset({"LambdaFunctionSucceeded", "TaskSucceeded", "ActivitySucceeded"})
TASK_ENDS: Final = TASK_FAILURES | TASK_SUCCESSES


def is_state_entered(kind: str) -> bool:
    """``kind`` (an event's ``type``) enters a state: ``TaskStateEntered``, ``WaitStateEntered``, ..."""
    return kind.endswith("StateEntered")


def ancestor(by_id: Mapping[int, Event], event: Event, wanted: Callable[[str], bool]) -> Event | None:
    """The nearest event of ``event``'s lineage (``event`` itself first) whose type ``wanted``
    accepts; ``None`` when the lineage ends first.

    Bounded by the number of events: a malformed history (an event that leads back to itself)
    cannot loop.
    """
    cursor: Event | None = event
    for _ in range(len(by_id) + 1):
        if cursor is None or wanted(str(cursor["type"])):
            return cursor
        previous = int(cursor.get("previousEventId") or 0)
        cursor = by_id.get(previous) if previous != int(cursor["id"]) else None
    return None


def entered_state(by_id: Mapping[int, Event], event: Event) -> Event | None:
    """The ``*StateEntered`` event ``event`` descends from (``event`` itself if it is one)."""
    return ancestor(by_id, event, is_state_entered)


def state_name(entered: Event | None) -> str:
    """The state a ``*StateEntered`` event entered ("" for none)."""
    return str(entered["stateEnteredEventDetails"]["name"]) if entered is not None else ""


def event_details(event: Event) -> dict[str, Any]:
    """The ``...EventDetails`` object of a history event (each event type has its own key)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def json_object(text: Any) -> dict[str, Any]:
    """A payload of the history (``input``, ``output``: JSON text) as an object; ``{}`` otherwise."""
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
