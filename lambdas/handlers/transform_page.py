"""TransformPage: one Map iteration: validate, normalise and compare one page of claims."""

from __future__ import annotations

from typing import Any

from claimsync import sync
from handlers._edge import lambda_handler, logger, mapping, staging


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    counts = sync.transform_one_page(
        staging(),
        mapping(),
        sync.Run.from_payload(event["run"]),
        int(event["page"]),
        int(event["page_count"]),
        sync.Checkpoint.from_item(event.get("checkpoint")),
    )
    logger.info("page transformed", extra=counts)
    return {"page": event["page"], **counts}
