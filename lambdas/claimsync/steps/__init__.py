"""The claim-sync steps: one module per state (or cohesive pair) of ``statemachine/claim_sync.asl.json``.

| state (Lambda task)          | module              | input → output                                   |
|------------------------------|---------------------|--------------------------------------------------|
| PrepareRun                   | ``steps.run``       | PrepareTask → Prepared (``$.run``)               |
| StartReport, CheckReport     | ``steps.report``    | RunTask / ReportTask → ReportRequest / ReportStaged (``$.request``, ``$.sources.report``) |
| LoadPayors                   | ``steps.payors``    | RunTask → PayorsLoaded (``$.sources.payors``)    |
| TransformPage (Map)          | ``steps.page``      | PageTask → PageCounts                            |
| StartUpload, CheckUpload     | ``steps.upload``    | UploadTask / UploadCheckTask → UploadProgress (``$.upload``) |
| FinishRun                    | ``steps.finish``    | FinishTask → RunSummary (``$.summary``)          |

What the steps leave each other in S3 is typed too (``steps.staged``). Each step is a plain function
``(deps, task) -> result`` over the dataclasses above; handlers stay one call
(``handlers._edge.step_handler``). :data:`STEPS` is the one table from state name to function, input
type and the transient errors the state machine retries for it; ``tests/unit/test_step_contracts.py``
holds it against the ASL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from claimsync.collaboratemd import CmdReportBusy, CmdUnavailable
from claimsync.errors import ClaimsyncError
from claimsync.salesforce.errors import SalesforceLimitExceeded, SalesforceLockError, SalesforceUnavailable
from claimsync.steps import finish, page, payors, report, run, upload
from claimsync.steps.deps import Deps

SALESFORCE_TRANSIENT: tuple[type[ClaimsyncError], ...] = (
    SalesforceUnavailable,
    SalesforceLockError,
    SalesforceLimitExceeded,
)


@dataclass(frozen=True)
class Step:
    state: str
    function: Callable[[Deps, Any], Any]
    task: type[Any]
    retried: tuple[type[ClaimsyncError], ...] = ()
    """The transient errors the state machine retries this task on (besides Lambda's own)."""


STEPS: dict[str, Step] = {
    s.state: s
    for s in (
        Step("PrepareRun", run.prepare_step, run.PrepareTask),
        Step("StartReport", report.start_report, report.RunTask, (CmdReportBusy, CmdUnavailable)),
        Step(
            "CheckReport",
            report.check_report,
            report.ReportTask,
            (CmdUnavailable, report.ReportDownloadCorrupt),
        ),
        Step("LoadPayors", payors.load_payors, report.RunTask, SALESFORCE_TRANSIENT),
        Step("TransformPage", page.transform_one_page, page.PageTask),
        Step("StartUpload", upload.start_upload, upload.UploadTask, SALESFORCE_TRANSIENT),
        Step("CheckUpload", upload.check_upload, upload.UploadCheckTask, SALESFORCE_TRANSIENT),
        Step("FinishRun", finish.finish_run, finish.FinishTask),
    )
}
