"""Polling from the state machine: a Wait state, then a check step that says when to look again.

Both loops (the CollaborateMD report, the Salesforce Bulk jobs) are bounded the same way: the first
check step fixes a deadline, every check past it fails the run with the step's own error, and the
wait between checks grows (doubling to a cap) — or, for Bulk jobs, follows the measured progress
(:func:`wait_for_progress`), so a job costs a few polls whatever its size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Poll:
    """When to look again, and until when looking makes sense (epoch seconds)."""

    poll_seconds: int
    deadline: int

    @classmethod
    def start(cls, now: float, first_wait_s: int, deadline_s: int) -> Poll:
        return cls(first_wait_s, int(now) + deadline_s)

    def overdue(self, now: float) -> bool:
        return now >= self.deadline

    def backed_off(self, cap_s: int) -> Poll:
        return Poll(min(self.poll_seconds * 2, cap_s), self.deadline)

    def waiting(self, seconds: int) -> Poll:
        return Poll(seconds, self.deadline)


def wait_for_progress(
    remaining: int, rate_per_s: float | None, *, floor_s: int, cap_s: int, assumed_rate_per_s: float
) -> int:
    """Seconds until ``remaining`` records should be done, at the measured rate (or the assumed one
    before anything was measured), plus a tenth for margin; between ``floor_s`` and ``cap_s``."""
    rate = rate_per_s if rate_per_s and rate_per_s > 0 else assumed_rate_per_s
    estimate = math.ceil(round(1.1 * remaining / rate, 6)) if remaining > 0 else floor_s
    return max(floor_s, min(cap_s, estimate))
