"""AbnormalEnd: settle a claim-sync run that was stopped, timed out or failed past every Catch.

Invoked by the EventBridge rule on the state machine's "Step Functions Execution Status Change"
events (ABORTED, TIMED_OUT, FAILED) -- in the local world, by the world itself with the same event.
"""

from __future__ import annotations

import time
from typing import Any

from claimsync.runend.activity import upload_saved_at
from claimsync.runend.event import ExecutionEnd
from claimsync.runend.settle import settle
from handlers._edge import aws, lambda_handler, logger, salesforce, settings, staging


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    end = ExecutionEnd.from_event(event)
    result = settle(
        end,
        stepfunctions=aws("stepfunctions"),
        dynamodb=aws("dynamodb"),
        table=settings().table,
        staging=staging(),
        upload_saved_at=lambda: upload_saved_at(aws("s3"), settings().bucket, end.run_id),
        salesforce=salesforce,
        now=time.time,
        sleep=time.sleep,
        remaining_s=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    logger.info("abnormal end settled", extra=result.as_dict())
    return result.as_dict()
