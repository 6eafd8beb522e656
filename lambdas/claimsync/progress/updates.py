"""What the progress tracker reports: one value per thing worth telling, in the run's time.

``at_s`` is the time since the execution started (seconds). ``PHASES`` is the order in which the
run's phases are shown (report and payors run in parallel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PHASES: Final = ("prepare", "report", "payors", "transform", "upload", "finish")


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
