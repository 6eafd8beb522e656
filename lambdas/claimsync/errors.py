"""The root of claimsync's own exceptions, and what the state machine may do with them.

Every exception claimsync raises on purpose derives from :class:`ClaimsyncError`. Two promises come
with it:

- its message names the problem (a status, a field, a count), never a claim value, so the Lambda
  edge may log it and let it reach the execution history (``handlers._edge``);
- ``transient`` says whether retrying the same step can help. The state machine retries a step on
  exactly the transient errors that step declares (``claimsync.steps.STEPS``), and a fast test checks
  the ASL's ``Retry`` names against those declarations, so the two cannot drift.

The state machine matches errors by class name (the Lambda ``errorType``): a class name is part of the
contract with ``statemachine/claim_sync.asl.json``.
"""

from __future__ import annotations

from typing import ClassVar


class ClaimsyncError(Exception):
    """An error claimsync raises on purpose; its message carries no claim value."""

    transient: ClassVar[bool] = False


def all_error_classes() -> dict[str, type[ClaimsyncError]]:
    """Every ClaimsyncError subclass of the loaded modules, by name (the ASL's ``ErrorEquals``)."""
    found: dict[str, type[ClaimsyncError]] = {}
    pending: list[type[ClaimsyncError]] = [ClaimsyncError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found
