"""FinishRun: accounting check, new snapshot, the run's reports in S3, and the summary."""

from __future__ import annotations

from typing import Any

from claimsync import sync
from handlers._edge import lambda_handler, logger, staging

LOGGED = ("status", "rows_in", "sent", "unchanged", "rejected", "succeeded", "failed")


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    summary = sync.finish_run(
        staging(), sync.Run.from_payload(event["run"]), int(event["page_count"]), int(event["rows_in"])
    )
    logger.info("run finished", extra={k: summary[k] for k in LOGGED})
    # The payload keeps counts; the unmapped payers list (possibly long) stays in the S3 summary.
    payload = {k: v for k, v in summary.items() if k != "unmapped_payers"}
    payload["unmapped_payer_count"] = len(summary["unmapped_payers"])
    return payload
