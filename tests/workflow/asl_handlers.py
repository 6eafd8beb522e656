"""Tiny Lambda handlers for the ASL fidelity tests (`test_asl_fidelity.py`).

Module-level functions with no shared state: everything a handler needs arrives in its event, and
everything a test checks comes back in its result or the execution history. So they behave the same
whether the local runtime calls them in the test's process or in a worker process that imports this
module.
"""

from __future__ import annotations

import time
from typing import Any


class Transient(Exception):
    """Stands for a retryable domain error (`SalesforceUnavailable`, `CmdUnavailable`, ...)."""


class Throttled(Exception):
    """Stands for a second retryable error with its own retrier (`SalesforceLimitExceeded`)."""


class Terminal(Exception):
    """Stands for an error no retrier names."""


ERRORS: dict[str, type[Exception]] = {cls.__name__: cls for cls in (Transient, Throttled, Terminal)}


def echo(event: dict[str, Any], context: Any) -> Any:
    return event


def fail_then_succeed(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Attempt n (from `$$.State.RetryCount`) raises `errors[n]` while there is one, then succeeds."""
    attempt: int = event["attempt"]
    errors: list[str] = event["errors"]
    if attempt < len(errors):
        raise ERRORS[errors[attempt]](f"attempt {attempt + 1}")
    return {"attempts": attempt + 1}


def check_job(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One poll of a job, as CheckReport/CheckUpload: ready after `ready_after` polls. Each poll asks
    for a 1 s longer wait, so a test can see that Wait reads the current `poll_seconds`."""
    job = event["job"]
    polls = job["polls"] + 1
    ready = polls >= job["ready_after"]
    return {
        **job,
        "polls": polls,
        "poll_seconds": job["poll_seconds"] + 1,
        "state": "READY" if ready else "PENDING",
        "pending": not ready,
    }


def work(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A task that takes `hold_s` (a handler working, not a test waiting) and says when it ran
    (CLOCK_MONOTONIC is system-wide on Linux, so the times compare across processes); as a Map
    iteration it fails for the page in `fail_page`."""
    if "page" in event and event["page"] == event.get("fail_page"):
        raise Terminal(f"page {event['page']}")
    started = time.monotonic()
    time.sleep(event["hold_s"])
    return {**event, "started": started, "ended": time.monotonic()}
