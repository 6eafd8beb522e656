"""StartReport: start the CollaborateMD claims report (REPORT RUNNING on start is retried by the ASL)."""

from __future__ import annotations

import time
from typing import Any

from claimsync import sync
from handlers._edge import collaboratemd, lambda_handler, logger, settings


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = sync.start_report(collaboratemd(), settings(), time.time())
    logger.info("report started")
    return request
