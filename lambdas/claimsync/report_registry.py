"""Which CollaborateMD report request a run started, kept where the next run finds it.

CollaborateMD runs one report per customer at a time. A run that fails or is stopped after
StartReport (LoadPayors failing, poll retries exhausted, an abort) leaves its report running, and
nothing polls it again: every later start answers ``REPORT RUNNING`` until CollaborateMD gives up on
it (about 15 minutes). So StartReport records the request in the sync-state table, and a later run
whose start is refused as busy *adopts* the recorded request instead of failing: it polls it and
syncs its rows (a complete snapshot of the claims as of that report's start). CheckReport forgets the
request once it is finished, well or badly. A recorded request older than the report deadline is
never adopted (CollaborateMD has given up on it; the busy report is someone else's).

One item, ``pk=REPORT, sk=claim-sync``: request id, the run that started it, when. No claim data.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from claimsync import layout


@dataclass(frozen=True)
class ReportRequest:
    request_id: str
    run_id: str
    started_at: int


class ReportRegistry:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._ddb = dynamodb
        self._table = table
        self._key = {
            layout.TABLE_PARTITION_KEY: {"S": layout.REPORT_PK},
            layout.TABLE_SORT_KEY: {"S": layout.REPORT_SK},
        }

    def recorded(self) -> ReportRequest | None:
        item = self._ddb.get_item(TableName=self._table, Key=self._key, ConsistentRead=True).get("Item")
        if not item:
            return None
        return ReportRequest(
            request_id=item["request_id"]["S"],
            run_id=item["run_id"]["S"],
            started_at=int(item["started_at"]["N"]),
        )

    def record(self, request: ReportRequest, *, expires_at: int) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                **self._key,
                "request_id": {"S": request.request_id},
                "run_id": {"S": request.run_id},
                "started_at": {"N": str(request.started_at)},
                layout.TABLE_TTL_ATTRIBUTE: {"N": str(expires_at)},
            },
        )

    def forget(self, request_id: str) -> None:
        """Remove the record if it is still this request's (a newer run may have replaced it)."""
        with contextlib.suppress(self._ddb.exceptions.ConditionalCheckFailedException):
            self._ddb.delete_item(
                TableName=self._table,
                Key=self._key,
                ConditionExpression="request_id = :id",
                ExpressionAttributeValues={":id": {"S": request_id}},
            )
