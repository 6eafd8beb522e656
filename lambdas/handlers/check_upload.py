"""CheckUpload: poll the Bulk job(s); when done, collect failures and resubmit transient ones."""

from __future__ import annotations

import time
from typing import Any

from claimsync import sync
from handlers._edge import lambda_handler, logger, mapping, salesforce, settings, staging


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = sync.check_upload(
        staging(),
        salesforce(),
        settings(),
        mapping(),
        sync.Run.from_payload(event["run"]),
        event["upload"],
        time.time(),
    )
    logger.info("upload polled", extra={"pending": result["pending"], "round": result.get("round")})
    return result
