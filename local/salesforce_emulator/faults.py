"""The Salesforce emulator's faults, in the shape both emulators share (``local/faults.py``): 503s,
answers lost or late after the call was carried out, failing or held Bulk jobs, lock-row failures.

``CALL_KINDS`` are the names the API gate counts calls under; ``on`` names one of them (or ``*``).
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from local.faults import Fault, FaultCatalog, FaultKind, FaultQueue, Param, integer, number

MAX_SLOW_ANSWER_S = 30.0

CALL_KINDS: tuple[str, ...] = (
    "oauth_token",
    "resources",
    "limits",
    "describe_global",
    "sobject_basic",
    "describe",
    "sobject_create",
    "sobject_get",
    "sobject_update",
    "sobject_delete",
    "sobject_get_by_external_id",
    "sobject_upsert",
    "query",
    "query_more",
    "composite_create",
    "composite_update",
    "composite_upsert",
    "composite_delete",
    "bulk_create_job",
    "bulk_list_jobs",
    "bulk_get_job",
    "bulk_close",
    "bulk_delete_job",
    "bulk_upload",
    "bulk_results",
)

_CALLS = frozenset(CALL_KINDS)

CATALOG = FaultCatalog(
    [
        FaultKind("unavailable", targets=_CALLS),
        FaultKind("drop_answer", targets=_CALLS - {"oauth_token"}),
        FaultKind(
            "slow_answer",
            params=(Param("seconds", number("seconds", 0, MAX_SLOW_ANSWER_S, low_open=True)),),
            targets=_CALLS - {"oauth_token"},
        ),
        FaultKind("fail_job"),
        FaultKind("hold_jobs", counted=False),
        FaultKind(
            "lock_row",
            params=(
                Param("share", number("share", 0, 1)),
                Param("seed", integer("seed"), default=0, required=False),
                Param("max_per_record", integer("max_per_record", low=1), default=1, required=False),
            ),
            counted=False,
        ),
    ]
)


class Faults:
    """The faults in force and the questions the API gate, Collections and Bulk ask of them."""

    def __init__(self) -> None:
        self._queue = FaultQueue()
        self._mutex = threading.Lock()
        self._lock_hits: dict[str, int] = {}  # record key -> UNABLE_TO_LOCK_ROW failures so far

    def add(self, faults: list[Fault]) -> None:
        if any(f.kind == "lock_row" for f in faults):
            with self._mutex:
                self._lock_hits.clear()
        self._queue.add(faults)

    def clear(self) -> None:
        self._queue.clear()
        with self._mutex:
            self._lock_hits.clear()

    def describe(self) -> list[dict[str, Any]]:
        return self._queue.describe()

    def take_unavailable(self, kind: str) -> bool:
        """True (and one fewer left) when this call of ``kind`` must answer 503."""
        return self._queue.take("unavailable", kind) is not None

    def take_drop_answer(self, kind: str) -> bool:
        """True (and one fewer left) when the answer to this call of ``kind`` must be dropped."""
        return self._queue.take("drop_answer", kind) is not None

    def take_slow_answer(self, kind: str) -> float:
        """Seconds to hold the answer to this call of ``kind`` (0: answer at once)."""
        fault = self._queue.take("slow_answer", kind)
        return float(fault["seconds"]) if fault is not None else 0.0

    def take_fail_job(self) -> bool:
        return self._queue.take("fail_job") is not None

    @property
    def hold_jobs(self) -> bool:
        return self._queue.standing("hold_jobs") is not None

    @property
    def locking_rows(self) -> bool:
        return self._queue.standing("lock_row") is not None

    def lock_row(self, record_key: str) -> bool:
        """Deterministically pick ``share`` of records to fail, each at most ``max_per_record`` times."""
        fault = self._queue.standing("lock_row")
        if fault is None or fault["share"] <= 0:
            return False
        key = record_key.lower()
        digest = hashlib.sha256(f"{fault['seed']}:{key}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= fault["share"]:
            return False
        with self._mutex:
            hits = self._lock_hits.get(key, 0)
            if hits >= fault["max_per_record"]:
                return False
            self._lock_hits[key] = hits + 1
        return True
