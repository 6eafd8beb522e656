"""LoadPayors: stage the active and inactive Payor_Mapping__c records for the run."""

from __future__ import annotations

from typing import Any

from claimsync import sync
from handlers._edge import lambda_handler, logger, salesforce, staging


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = sync.load_payors(salesforce(), staging(), str(event["run"]["run_id"]))
    logger.info("payor mappings loaded", extra=result)
    return result
