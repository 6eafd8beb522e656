"""StartUpload: send the changed claims: sObject Collections for small deltas, else Bulk API 2.0."""

from __future__ import annotations

import time
from typing import Any

from claimsync import sync
from handlers._edge import lambda_handler, logger, mapping, salesforce, settings, staging


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = sync.start_upload(
        staging(),
        salesforce(),
        settings(),
        mapping(),
        sync.Run.from_payload(event["run"]),
        int(event["page_count"]),
        time.time(),
    )
    logger.info("upload started", extra={k: result[k] for k in ("mode", "to_send", "pending")})
    return result
