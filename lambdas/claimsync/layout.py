"""Names and keys shared by the CDK stack, the Lambda handlers and the local runner.

One definition, so the local world creates exactly what the stack declares: the DynamoDB key
schema and item keys, the S3 key layout, the Lambda functions of the claim sync with their handler
entry points, and the placeholders of ``statemachine/claim_sync.asl.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ASL_PATH = Path(__file__).resolve().parents[2] / "statemachine" / "claim_sync.asl.json"

# ---- DynamoDB sync-state table -------------------------------------------------------------------
TABLE_PARTITION_KEY = "pk"
TABLE_SORT_KEY = "sk"
TABLE_TTL_ATTRIBUTE = "expires_at"  # epoch seconds; DynamoDB TTL removes stale locks and old runs
LOCK_PK, LOCK_SK = "LOCK", "claim-sync"
CHECKPOINT_PK, CHECKPOINT_SK = "CHECKPOINT", "claim-sync"
RUN_PK = "RUN"  # sort key: the run id (the execution name)
REPORT_PK, REPORT_SK = "REPORT", "claim-sync"  # the CollaborateMD report request in flight (report_registry)

# ---- S3 staging bucket -----------------------------------------------------------------------------
# runs/ holds staged PHI (report pages, CSV parts): short lifecycle expiry.
# snapshots/ holds claim numbers and content hashes of what landed in Salesforce.
# reports/ holds each run's summary, rejects and failures for operators.
RUNS_PREFIX = "runs/"
SNAPSHOTS_PREFIX = "snapshots/"
REPORTS_PREFIX = "reports/"


def run_key(run_id: str, *parts: str) -> str:
    return "/".join((RUNS_PREFIX.rstrip("/"), run_id, *parts))


def page_key(run_id: str, page: int) -> str:
    return run_key(run_id, "pages", f"{page:05d}.jsonl")


def payors_key(run_id: str) -> str:
    return run_key(run_id, "payors.json")


def changes_key(run_id: str, page: int) -> str:
    """The page's claims to send: typed records, JSON Lines, in Bulk order (``steps.staged``)."""
    return run_key(run_id, "changes", f"{page:05d}.jsonl")


def page_outcome_key(run_id: str, page: int) -> str:
    """The page's counts, rejects and unmapped payers (``steps.staged.PageOutcome``)."""
    return run_key(run_id, "outcome", f"{page:05d}.json")


def page_claims_key(run_id: str, page: int) -> str:
    """What the run did with each claim of the page (``steps.page.claim_index``), before upload."""
    return run_key(run_id, "claims", f"{page:05d}.json")


def claim_index_key(run_id: str, page: int) -> str:
    """The same with Salesforce's answer, kept with the run's reports (``claimsync claim``)."""
    return report_key(run_id, f"claims/{page:05d}.json")


def upload_state_key(run_id: str) -> str:
    return run_key(run_id, "upload", "state.json")


def snapshot_prefix(run_id: str) -> str:
    """The run's snapshot: TransformPage writes a shard per page (every valid claim's content hash),
    FinishRun takes out the claims Salesforce failed, SaveCheckpoint adopts it."""
    return f"{SNAPSHOTS_PREFIX}{run_id}/"


def snapshot_shard_key(prefix: str, shard: int) -> str:
    return f"{prefix}{shard:05d}.json"


def report_key(run_id: str, name: str) -> str:
    return f"{REPORTS_PREFIX}{run_id}/{name}"


# ---- Lambda functions of the claim sync ------------------------------------------------------------
@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function of the claim sync, declared once: the CDK stack deploys it from this, the
    local world runs it under these limits, and the ASL renderer fills its placeholder. What it
    may reach is declared here too (``tests/unit/test_steps.py`` checks each step uses exactly that)."""

    name: str  # logical name = the ASL state; the ASL placeholder is f"{Name}FunctionArn"
    handler: str  # module.function, relative to lambdas/
    memory_mb: int = 512
    timeout_s: int = 120
    reserved_concurrency: int = 2  # one run at a time (the lock), plus retries
    ephemeral_mb: int = 512  # /tmp: spool files of the streaming steps
    staging: bool = False  # reads/writes the staging bucket
    salesforce: bool = False  # needs the Salesforce secret
    collaboratemd: bool = False  # needs the CollaborateMD secret
    sync_table: bool = False  # reads/writes items of the sync-state table itself (not via the ASL)

    @property
    def placeholder(self) -> str:
        return f"{self.name}FunctionArn"


SYNC_FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("PrepareRun", "handlers.prepare_run.handler", memory_mb=256, timeout_s=10),
    FunctionSpec(
        "StartReport",
        "handlers.start_report.handler",
        memory_mb=256,
        timeout_s=60,
        collaboratemd=True,
        sync_table=True,
    ),
    FunctionSpec(
        "CheckReport",
        "handlers.check_report.handler",
        memory_mb=512,
        timeout_s=900,
        ephemeral_mb=8192,  # the report's ZIP and its rows in bucket files: ~0.7 GB per million claims
        staging=True,
        collaboratemd=True,
        sync_table=True,
    ),
    FunctionSpec(
        "LoadPayors",
        "handlers.load_payors.handler",
        memory_mb=256,
        timeout_s=120,
        staging=True,
        salesforce=True,
    ),
    FunctionSpec(
        "TransformPage",
        "handlers.transform_page.handler",
        memory_mb=512,
        timeout_s=300,
        reserved_concurrency=10,  # the Map's MaxConcurrency (8) plus retries
        staging=True,
    ),
    FunctionSpec(
        "StartUpload",
        "handlers.start_upload.handler",
        memory_mb=512,
        timeout_s=900,
        ephemeral_mb=4096,  # the pages' staged claims and one Bulk document (≤ 100 MB) at a time
        staging=True,
        salesforce=True,
    ),
    FunctionSpec(
        "CheckUpload",
        "handlers.check_upload.handler",
        memory_mb=512,
        timeout_s=600,
        ephemeral_mb=2048,  # result CSVs, resubmitted claims
        staging=True,
        salesforce=True,
    ),
    FunctionSpec("FinishRun", "handlers.finish_run.handler", memory_mb=512, timeout_s=300, staging=True),
)

# Functions outside the state machine (no ASL placeholder): AbnormalEnd runs on the state machine's
# "Step Functions Execution Status Change" events (EventBridge rule; the local world delivers them
# itself) for the statuses below. It may wait for an upload Lambda still running when the execution
# ended (until that Lambda saves the run's upload state, at most its timeout), so its own timeout is
# Lambda's maximum; past it, Lambda's asynchronous retry brings the event back.
ABNORMAL_END_FUNCTION = FunctionSpec(
    "AbnormalEnd",
    "handlers.abnormal_end.handler",
    memory_mb=256,
    timeout_s=900,
    staging=True,  # reads the runs' upload state only (stacks/abnormal_end.py grants exactly that)
    salesforce=True,
    sync_table=True,  # writes RUN records, deletes the LOCK item
)
EVENT_FUNCTIONS: tuple[FunctionSpec, ...] = (ABNORMAL_END_FUNCTION,)
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"  # EventBridge detail-type
ABNORMAL_END_STATUSES: tuple[str, ...] = ("ABORTED", "TIMED_OUT", "FAILED")

# Placeholders in the ASL other than function ARNs.
TABLE_PLACEHOLDER = "SyncTableName"


ASL_PLACEHOLDERS: frozenset[str] = frozenset({*(f.placeholder for f in SYNC_FUNCTIONS), TABLE_PLACEHOLDER})


def render_asl(substitutions: dict[str, str], text: str | None = None) -> str:
    """The ASL with every ``${Placeholder}`` replaced, as CDK's definition substitutions do.

    Raises ``KeyError`` naming a placeholder without a value, or a value for no placeholder, so the
    file, the stack and the local runner cannot drift apart silently.
    """
    import re

    text = ASL_PATH.read_text() if text is None else text
    found = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", text))
    if found != set(substitutions):
        raise KeyError(f"ASL placeholders {sorted(found)} != substitutions {sorted(substitutions)}")
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    return text


# ---- CloudWatch metrics (emitted by FinishRun through Powertools; alarms and dashboard read them) -----
METRIC_NAMESPACE = "claimsync"
METRIC_SERVICE = "claimsync"  # Powertools' service dimension; the only dimension these metrics carry
METRIC_PARTIAL_RUNS = "PartialRuns"  # Count, 1 per run that finished PARTIAL
METRIC_CLAIMS_SENT = "ClaimsSent"  # Count per run
METRIC_CLAIMS_REJECTED = "ClaimsRejected"  # Count per run
METRIC_CLAIMS_FAILED = "ClaimsFailed"  # Count per run
METRIC_SALESFORCE_API_USAGE_PERCENT = "SalesforceApiUsagePercent"  # 100 * used / total (Sforce-Limit-Info)
