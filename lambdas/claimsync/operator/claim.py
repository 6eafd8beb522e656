"""One claim's story (``claimsync claim``): what the last runs did with it, and its record in
Salesforce now.

Each run writes a claim index (``reports/<run_id>/claims/<page>.json``), sharded like the snapshot:
the shard that holds a claim is its page (``claim_page``), so one run costs one S3 read. The record
in Salesforce is read with one SOQL query by the claim's external id (``salesforce_claim``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from claimsync import layout
from claimsync.operator.deployment import Deployment, OperatorError
from claimsync.operator.runs import RunRecord, recent_runs, run_report
from claimsync.staging import claim_bucket
from claimsync.transform import external_id_key

# What a run's claim index says about a claim (``ClaimInRun.index``).
INDEX_FOUND = (
    "found"  # the index was read: ``rows`` are the report rows that carried the claim (none: absent)
)
INDEX_EXPIRED = "expired"  # the run's reports have expired (reports_expiry_days)
INDEX_NOT_WRITTEN = "not_written"  # the run has its summary but no claim index (it predates claim indexes)
INDEX_NO_REPORT = "no_report"  # the run wrote no report: still running, or failed before FinishRun


@dataclass(frozen=True)
class ClaimInRun:
    """What one run did with one claim, from the run's claim index.

    ``rows`` are the index entries of the report rows that carried the claim (a claim repeated in the
    report has a rejected ``DUPLICATE`` row and the row that counted): ``{"claim", "row"?, "outcome":
    rejected|unchanged|new|changed, "reasons"?, "payor"?, "result"?: succeeded|failed|dry_run,
    "error"?}`` (``claimsync.steps.page.claim_index`` and ``steps.finish``)."""

    run: RunRecord
    index: str
    rows: tuple[dict[str, Any], ...] = ()
    page: int | None = None

    @property
    def in_report(self) -> bool | None:
        """Whether the run's report had the claim; None when the run's index cannot say."""
        return bool(self.rows) if self.index == INDEX_FOUND else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run.run_id,
            "status": self.run.status,
            "started_at": self.run.started_at,
            "finished_at": self.run.finished_at,
            "dry_run": bool(self.run.summary.get("dry_run")),
            "index": self.index,
            "in_report": self.in_report,
            "page": self.page,
            "rows": [dict(row) for row in self.rows],
        } | ({"failed_state": self.run.failed_state, "error": self.run.error} if self.run.error else {})


@dataclass(frozen=True)
class SalesforceClaim:
    """The claim's ``Claim__c`` record now (field names from the claim mapping)."""

    record_id: str
    last_sync_run: str | None
    payor_mapping_status: str | None
    payor_record_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "last_sync_run": self.last_sync_run,
            "payor_mapping_status": self.payor_mapping_status,
            "payor_record_id": self.payor_record_id,
        }


def claim_key(claim_id: str) -> str:
    """The key a claim has in the claim index (and in the snapshot): trimmed, case folded."""
    key = external_id_key(claim_id.strip())
    if not key:
        raise OperatorError("a claim id is needed (the ClaimID of the CollaborateMD report)")
    return key


def claim_page(claim_id: str, page_count: int) -> int:
    """The page (and claim-index shard) of a claim in a run of ``page_count`` pages."""
    return claim_bucket(claim_key(claim_id), page_count)


def _json_report(s3: Any, deployment: Deployment, key: str) -> Any:
    try:
        body = s3.get_object(Bucket=deployment.bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body)


def _page_count(s3: Any, deployment: Deployment, record: RunRecord) -> int | None:
    """The run's page count: from its record, else (a run that failed after FinishRun) summary.json."""
    count = record.summary.get("page_count")
    if not isinstance(count, int) and record.status != "RUNNING":
        summary = _json_report(s3, deployment, layout.report_key(record.run_id, "summary.json"))
        count = summary.get("page_count") if isinstance(summary, dict) else None
    return count if isinstance(count, int) and count > 0 else None


def claim_in_run(s3: Any, deployment: Deployment, record: RunRecord, claim_id: str) -> ClaimInRun:
    """Read one shard of the run's claim index: the one that holds ``claim_id``."""
    key = claim_key(claim_id)
    page_count = _page_count(s3, deployment, record)
    if page_count is None:
        return ClaimInRun(record, INDEX_NO_REPORT)
    page = claim_bucket(key, page_count)
    shard = _json_report(s3, deployment, layout.claim_index_key(record.run_id, page))
    if not isinstance(shard, dict):
        has_summary = run_report(s3, deployment, record.run_id, "summary.json") is not None
        return ClaimInRun(record, INDEX_NOT_WRITTEN if has_summary else INDEX_EXPIRED, page=page)
    rows = shard.get(key) or []
    return ClaimInRun(record, INDEX_FOUND, tuple(r for r in rows if isinstance(r, dict)), page)


def claim_story(
    s3: Any,
    dynamodb: Any,
    deployment: Deployment,
    claim_id: str,
    *,
    runs: int = 5,
    stepfunctions: Any = None,
) -> list[ClaimInRun]:
    """What each of the last ``runs`` runs did with the claim, newest first (one S3 read per run)."""
    claim_key(claim_id)  # refuse an empty id before any call
    records = recent_runs(dynamodb, deployment, limit=runs, stepfunctions=stepfunctions)
    return [claim_in_run(s3, deployment, record, claim_id) for record in records]


def soql_string(value: str) -> str:
    """``value`` as a SOQL string literal: quotes, backslashes and control characters escaped."""
    escapes = {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\b": "\\b",
        "\f": "\\f",
    }
    return "'" + "".join(escapes.get(c, c) for c in value) + "'"


def salesforce_claim(gateway: Any, mapping: Any, claim_id: str) -> SalesforceClaim | None:
    """The claim's record in Salesforce now, by its external id: one SOQL query (None: no record).

    ``gateway`` is a ``claimsync.salesforce.SalesforceGateway``, ``mapping`` the ``ClaimMapping``
    whose object and field names the sync writes."""
    run_field, payor = mapping.run_field.field, mapping.payor
    # Names from the mapping; the one literal is escaped by soql_string.
    fields = f"Id, {run_field}, {payor.status_field}, {payor.lookup_field}"
    where = f"{mapping.external_id_field} = {soql_string(claim_id.strip())}"
    soql = f"SELECT {fields} FROM {mapping.object_name} WHERE {where} LIMIT 1"  # noqa: S608
    records = gateway.query_page(soql).get("records") or []
    if not records:
        return None
    record = records[0]
    return SalesforceClaim(
        record_id=str(record.get("Id") or ""),
        last_sync_run=record.get(run_field),
        payor_mapping_status=record.get(payor.status_field),
        payor_record_id=record.get(payor.lookup_field),
    )
