"""Two fixes to moto 5.2.5's server that keep its cost per request from growing with a run.

* **GetExecutionHistory pages as AWS pages it.** moto ignores ``maxResults``, ``nextToken``,
  ``reverseOrder`` and ``includeExecutionData``: every call answers the whole history, oldest first,
  with every state's input and output. A client that follows a run the way one follows it in AWS
  (the newest page, reverse order, until it meets the last event it has seen; ``claimsync.operator``)
  then makes moto serialise the whole history on every poll -- at 1M claims, ~2,000 events a poll,
  a few polls a second, which took most of the CPU of the one process the local world's AWS runs in.
  Here a call answers one page: at most ``maxResults`` events (AWS: default 100, at most 1,000), in
  the order asked, and a ``nextToken`` while events are left. The token names the last event
  answered, so a history that grows between two calls pages on from the same place (as in AWS).
  ``includeExecutionData=false`` leaves out each event's input and output.
* **The dispatcher remembers which service a host is.** moto's ``DomainDispatcherApplication`` lists
  its package directory (~150 ``stat`` calls) on every request to find the backend for the host,
  under one lock: the answer for a host never changes, so it is looked up once.
"""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

DEFAULT_PAGE = 100  # AWS's default maxResults for GetExecutionHistory
MAX_PAGE = 1000
_DATA_KEYS = ("input", "output", "inputDetails", "outputDetails")


class PageError(ValueError):
    """A request AWS refuses: ``kind`` is its error code (InvalidToken, ValidationException)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def caching_dispatcher(create_app: Any) -> Any:
    """moto's dispatcher with the host -> backend answer kept (it depends on the host alone)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    class CachingDispatcher(DomainDispatcherApplication):
        def __init__(self) -> None:
            super().__init__(create_app)
            self._backend_of: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            try:
                return self._backend_of[host]
            except KeyError:
                backend = self._backend_of[host] = super().get_backend_for_host(host)
                return backend

    return CachingDispatcher()


def history_page(events: list[Any], params: dict[str, Any]) -> dict[str, Any]:
    """The page of ``events`` (a whole history, oldest first) a GetExecutionHistory call asks for."""
    reverse = bool(params.get("reverseOrder"))
    size = int(params.get("maxResults") or DEFAULT_PAGE)
    if not 0 < size <= MAX_PAGE:
        raise PageError(
            "ValidationException",
            f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value less than or equal to {MAX_PAGE}",
        )
    ordered = events[::-1] if reverse else events
    token = params.get("nextToken")
    if token:
        after = _token_event_id(token)
        ordered = [e for e in ordered if (int(e["id"]) < after if reverse else int(e["id"]) > after)]
    page = ordered[:size]
    if params.get("includeExecutionData") is False:
        page = [_without_data(e) for e in page]
    answer: dict[str, Any] = {"events": page}
    if len(ordered) > size:
        answer["nextToken"] = _token(int(page[-1]["id"]))
    return answer


def _token(event_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": event_id}).encode()).decode()


def _token_event_id(token: str) -> int:
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["after"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PageError("InvalidToken", "the token does not name an event of this history") from exc


def _without_data(event: dict[str, Any]) -> dict[str, Any]:
    out = dict(event)
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            out[key] = {k: v for k, v in value.items() if k not in _DATA_KEYS}
    return out


def _events(backend: Any, arn: str) -> list[Any]:
    """The execution's whole history, oldest first. moto's own accessor (``to_history_output``)
    deep-copies every event on every call; events are only ever appended, so a copy of the list is
    enough."""
    env = backend.describe_execution(execution_arn=arn).exec_worker.env
    if env is None:  # not started yet: no events (as moto answers)
        return []
    manager = env.event_manager
    with manager._mutex:
        return list(manager._history_event_list)


def _json_value(value: Any) -> Any:
    """Timestamps as the JSON protocol writes them (epoch seconds)."""
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    raise TypeError(f"not JSON: {type(value).__name__}")


def install(patch: Any) -> None:
    """Page GetExecutionHistory; ``patch(owner, attribute, replacement)`` undoes itself at stop."""
    from moto.stepfunctions.exceptions import InvalidToken, ValidationException
    from moto.stepfunctions.responses import StepFunctionResponse

    def get_execution_history(self: Any) -> Any:
        history = _events(self.stepfunction_backend, self._get_param("executionArn"))
        params = {
            name: self._get_param(name)
            for name in ("maxResults", "nextToken", "reverseOrder", "includeExecutionData")
        }
        try:
            # the JSON protocol's body, written directly: moto's generic serializer took ~1 ms an event
            return json.dumps(history_page(history, params), default=_json_value)
        except PageError as exc:
            if exc.kind == "InvalidToken":
                raise InvalidToken(str(exc)) from None
            raise ValidationException(str(exc)) from None

    patch(StepFunctionResponse, "get_execution_history", get_execution_history)
