"""The event AbnormalEnd acts on: a Step Functions "Execution Status Change" of a claim-sync run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claimsync import layout
from claimsync.errors import ClaimsyncError


class NotAnExecutionEnd(ClaimsyncError):
    """The event is not a Step Functions execution status change this function can act on."""


@dataclass(frozen=True)
class ExecutionEnd:
    """The fields of a "Step Functions Execution Status Change" event this function uses."""

    execution_arn: str
    run_id: str  # the execution name
    status: str
    started_at: str  # AWS's context-object format, as the state machine's own records
    stopped_at: str
    error: str  # the error name (class) only; the cause stays in the execution history

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ExecutionEnd:
        if event.get("detail-type") != layout.EXECUTION_STATUS_CHANGE or event.get("source") != "aws.states":
            raise NotAnExecutionEnd("not a Step Functions Execution Status Change event")
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            raise NotAnExecutionEnd("the event has no detail")
        try:
            arn, name, status = str(detail["executionArn"]), str(detail["name"]), str(detail["status"])
            started = _iso(detail["startDate"])
            stopped = _iso(detail.get("stopDate") or detail["startDate"])
        except (KeyError, TypeError, ValueError) as exc:
            raise NotAnExecutionEnd(f"the event's detail lacks or garbles {exc}") from None
        if not name or not arn.endswith(f":{name}"):
            raise NotAnExecutionEnd("the execution name does not match its ARN")
        return cls(arn, name, status, started, stopped, str(detail.get("error") or ""))

    @property
    def abnormal(self) -> bool:
        return self.status in layout.ABNORMAL_END_STATUSES


def _iso(epoch_ms: Any) -> str:
    """Epoch milliseconds (the event's dates) -> ``2024-01-02T03:04:05.678Z``."""
    moment = dt.datetime.fromtimestamp(int(epoch_ms) / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
