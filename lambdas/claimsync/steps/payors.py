"""LoadPayors: the active payor mappings, staged for the pages (one SOQL query, all its pages)."""

from __future__ import annotations

from dataclasses import dataclass

from claimsync import layout
from claimsync.steps.deps import Deps
from claimsync.steps.report import RunTask

PAYOR_SOQL = "SELECT CMD_Payer_Id__c, CMD_Payer_Name__c, Claim_Payor__c, Active__c FROM Payor_Mapping__c"


@dataclass(frozen=True)
class PayorsLoaded:
    payor_mappings: int


def load_payors(deps: Deps, task: RunTask) -> PayorsLoaded:
    records = list(deps.salesforce.query_all(PAYOR_SOQL))
    deps.staging.put_json(layout.payors_key(task.run.run_id), records)
    return PayorsLoaded(len(records))
