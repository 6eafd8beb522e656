"""Fault injection driven through the admin interface: lock-row failures, 503s, failing or held Bulk
jobs, answers lost or late after the call was carried out."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

MAX_SLOW_ANSWER_S = 30.0


class FaultConfigError(ValueError):
    pass


@dataclass
class Faults:
    lock_row_share: float = 0.0
    lock_row_seed: int = 0
    lock_row_max_per_record: int = 1
    fail_next_job: bool = False
    hold_jobs: bool = False  # closed Bulk jobs stay queued (UploadComplete) until this is turned off
    unavailable: dict[str, int] = field(default_factory=dict)  # call kind (or "*") -> calls left to fail
    drop_answer: dict[str, int] = field(default_factory=dict)  # kind -> calls whose answer is dropped
    slow_answer: dict[str, tuple[int, float]] = field(default_factory=dict)  # kind -> (calls, seconds)
    _lock_hits: dict[str, int] = field(default_factory=dict)
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, body: dict[str, Any]) -> None:
        """Merge an admin ``POST /faults`` body into the current configuration."""
        known = {"lock_row_share", "lock_row_seed", "lock_row_max_per_record", "unavailable", "fail_next_job",
                 "hold_jobs", "drop_answer", "slow_answer"}  # fmt: skip
        unknown = set(body) - known
        if unknown:
            raise FaultConfigError(f"unknown fault settings: {sorted(unknown)}")
        with self._mutex:
            if "lock_row_share" in body:
                share = body["lock_row_share"]
                if not isinstance(share, int | float) or not 0 <= share <= 1:
                    raise FaultConfigError("lock_row_share must be a number between 0 and 1")
                self.lock_row_share = float(share)
                self._lock_hits.clear()
            if "lock_row_seed" in body:
                self.lock_row_seed = int(body["lock_row_seed"])
            if "lock_row_max_per_record" in body:
                self.lock_row_max_per_record = int(body["lock_row_max_per_record"])
            if "fail_next_job" in body:
                self.fail_next_job = bool(body["fail_next_job"])
            if "hold_jobs" in body:
                self.hold_jobs = bool(body["hold_jobs"])
            if "unavailable" in body:
                spec = body["unavailable"]
                if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
                    raise FaultConfigError('unavailable must look like {"kind": "bulk_upload", "count": 2}')
                self.unavailable[spec["kind"]] = int(spec.get("count", 1))
            if "drop_answer" in body:
                spec = body["drop_answer"]
                if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
                    raise FaultConfigError(
                        'drop_answer must look like {"kind": "sobject_create", "count": 1}'
                    )
                self.drop_answer[spec["kind"]] = int(spec.get("count", 1))
            if "slow_answer" in body:
                spec = body["slow_answer"]
                seconds = spec.get("seconds") if isinstance(spec, dict) else None
                if (
                    not isinstance(spec, dict)
                    or not isinstance(spec.get("kind"), str)
                    or not isinstance(seconds, int | float)
                    or not 0 < seconds <= MAX_SLOW_ANSWER_S
                ):
                    raise FaultConfigError(
                        'slow_answer must look like {"kind": "sobject_create", "count": 1, "seconds": 2}'
                        f" with 0 < seconds <= {MAX_SLOW_ANSWER_S}"
                    )
                self.slow_answer[spec["kind"]] = (int(spec.get("count", 1)), float(seconds))

    def clear(self) -> None:
        with self._mutex:
            self.lock_row_share = 0.0
            self.lock_row_seed = 0
            self.lock_row_max_per_record = 1
            self.fail_next_job = False
            self.hold_jobs = False
            self.unavailable.clear()
            self.drop_answer.clear()
            self.slow_answer.clear()
            self._lock_hits.clear()

    def describe(self) -> dict[str, Any]:
        return {
            "lock_row_share": self.lock_row_share,
            "lock_row_seed": self.lock_row_seed,
            "lock_row_max_per_record": self.lock_row_max_per_record,
            "fail_next_job": self.fail_next_job,
            "hold_jobs": self.hold_jobs,
            "unavailable": dict(self.unavailable),
            "drop_answer": dict(self.drop_answer),
            "slow_answer": {k: {"count": n, "seconds": t} for k, (n, t) in self.slow_answer.items()},
        }

    def take_unavailable(self, kind: str) -> bool:
        """True (and one fewer left) when the next call of ``kind`` must answer 503."""
        with self._mutex:
            for key in (kind, "*"):
                left = self.unavailable.get(key, 0)
                if left > 0:
                    self.unavailable[key] = left - 1
                    return True
        return False

    def take_drop_answer(self, kind: str) -> bool:
        """True (and one fewer left) when the answer to this call of ``kind`` must be dropped."""
        with self._mutex:
            for key in (kind, "*"):
                left = self.drop_answer.get(key, 0)
                if left > 0:
                    self.drop_answer[key] = left - 1
                    return True
        return False

    def take_slow_answer(self, kind: str) -> float:
        """Seconds to hold the answer to this call of ``kind`` (0: answer at once)."""
        with self._mutex:
            for key in (kind, "*"):
                left, seconds = self.slow_answer.get(key, (0, 0.0))
                if left > 0:
                    self.slow_answer[key] = (left - 1, seconds)
                    return seconds
        return 0.0

    def take_fail_next_job(self) -> bool:
        with self._mutex:
            hit, self.fail_next_job = self.fail_next_job, False
            return hit

    def lock_row(self, record_key: str) -> bool:
        """Deterministically pick ``lock_row_share`` of records to fail, each at most N times."""
        if self.lock_row_share <= 0:
            return False
        digest = hashlib.sha256(f"{self.lock_row_seed}:{record_key.lower()}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= self.lock_row_share:
            return False
        with self._mutex:
            hits = self._lock_hits.get(record_key.lower(), 0)
            if hits >= self.lock_row_max_per_record:
                return False
            self._lock_hits[record_key.lower()] = hits + 1
        return True
