"""CheckReport: poll the report once; when it is ready, stage its rows as pages in S3."""

from __future__ import annotations

import time
from typing import Any

from claimsync import sync
from handlers._edge import collaboratemd, lambda_handler, logger, mapping, settings, staging


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = sync.Run.from_payload(event["run"])
    result = sync.check_report(
        collaboratemd(), staging(), settings(), mapping(), run, event["request"], time.time()
    )
    if result["state"] == "READY":
        logger.info("report staged", extra={"rows_in": result["rows_in"], "pages": result["page_count"]})
    else:
        logger.info("report still running", extra={"next_poll_s": result["poll_seconds"]})
    return result
