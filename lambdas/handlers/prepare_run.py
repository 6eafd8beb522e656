"""PrepareRun: validate the execution input and fix the run's id, clock, lock and record expiry."""

from __future__ import annotations

import time
from typing import Any

from claimsync.runinput import parse_run_input
from handlers._edge import lambda_handler, logger, settings

RUN_RECORD_DAYS = 90


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    options = parse_run_input(event.get("input"))
    now = int(time.time())
    lock_until = now + settings().lock_ttl_seconds
    run = {
        "run_id": event["run_id"],
        "started_at": event["started_at"],
        "full_sync": options.full_sync,
        "dry_run": options.dry_run,
        # DynamoDB numbers travel as strings through the direct integrations
        "now": str(now),
        "lock_until": str(lock_until),
        "lock_expires_at": str(lock_until + 86_400),
        "record_expires_at": str(now + RUN_RECORD_DAYS * 86_400),
    }
    logger.info("run prepared", extra={"full_sync": options.full_sync, "dry_run": options.dry_run})
    return {"run": run}
