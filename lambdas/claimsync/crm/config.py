"""Settings of the CRM API, read once from the environment at the edge (a cold start) and passed down.

| variable | meaning | default |
|---|---|---|
| ``CLAIMSYNC_SALESFORCE_SECRET_ID`` | Secrets Manager secret with the Salesforce credentials | (required unless a gateway is injected) |
| ``CLAIMSYNC_SALESFORCE_API_VERSION`` | Salesforce REST API version | ``62.0`` |
| ``CLAIMSYNC_CA_BUNDLE`` | local world only: CA file that signs the emulator's certificate | empty |
| ``CRM_SALESFORCE_TIMEOUT_SECONDS`` | read timeout of one Salesforce call (below API Gateway's 29 s) | ``20`` |
| ``CRM_MAX_BODY_BYTES`` | largest accepted request body (413 beyond) | ``1048576`` |
| ``CRM_QUERY_OBJECTS`` | comma-separated objects ``POST /query`` may read | ``Account,Contact,Opportunity`` |
| ``CRM_QUERY_MAX_LIMIT`` | largest SOQL ``LIMIT`` (added when a query has none) | ``10000`` |
| ``CRM_BATCH_MAX`` | most records in one ``POST /batch/accounts`` (413 beyond) | ``1000`` |
| ``CRM_RETRY_AFTER_SECONDS`` | ``Retry-After`` sent with 429 | ``60`` |
| ``CRM_FUNCTION_NAME`` / ``CRM_FUNCTION_VERSION`` | what ``GET /health`` reports | the Lambda's own |
| ``CRM_CURSOR_SECRET_ID`` | Secrets Manager secret holding the key that signs ``/query`` cursors | (required for paging unless a key is injected) |
| ``CRM_CURSOR_TTL_SECONDS`` | how long a ``next`` cursor stays valid | ``900`` |
| ``CRM_IDEMPOTENCY_TABLE`` | DynamoDB table of ``Idempotency-Key`` records | (required for keyed creates unless a store is injected) |
| ``CRM_IDEMPOTENCY_TTL_SECONDS`` | how long a key's first answer is kept and replayed | ``86400`` |

The secret ids name secrets; the values are read at run time (Powertools parameters, cached) and
never pass through the environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from claimsync.crm.soql import QueryPolicy

_OBJECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class CrmConfigError(Exception):
    pass


@dataclass(frozen=True)
class CrmSettings:
    salesforce_secret_id: str = ""
    salesforce_api_version: str = "62.0"
    ca_bundle: str = ""
    salesforce_timeout_s: float = 20.0
    max_body_bytes: int = 1_048_576
    query: QueryPolicy = field(default_factory=QueryPolicy)
    batch_max: int = 1000
    retry_after_s: int = 60
    function_name: str = "claimsync-crm-api"
    function_version: str = "$LATEST"
    cursor_secret_id: str = ""
    cursor_ttl_s: int = 900
    idempotency_table: str = ""
    idempotency_ttl_s: int = 86_400

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CrmSettings:
        problems: list[str] = []

        def number(name: str, default: float, *, low: float, high: float, whole: bool = True) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = int(raw) if whole else float(raw)
            except ValueError:
                problems.append(f"{name} must be a {'whole ' if whole else ''}number")
                return default
            if not low <= value <= high:
                problems.append(f"{name} must be between {low:g} and {high:g}")
            return value

        objects = tuple(o.strip() for o in env.get("CRM_QUERY_OBJECTS", "").split(",") if o.strip())
        if any(not _OBJECT_NAME.fullmatch(o) for o in objects):
            problems.append("CRM_QUERY_OBJECTS must be a comma-separated list of object API names")
        settings = cls(
            salesforce_secret_id=env.get("CLAIMSYNC_SALESFORCE_SECRET_ID", ""),
            salesforce_api_version=env.get("CLAIMSYNC_SALESFORCE_API_VERSION", "") or "62.0",
            ca_bundle=env.get("CLAIMSYNC_CA_BUNDLE", ""),
            salesforce_timeout_s=number("CRM_SALESFORCE_TIMEOUT_SECONDS", 20.0, low=1, high=900, whole=False),
            max_body_bytes=int(number("CRM_MAX_BODY_BYTES", 1_048_576, low=1024, high=6 * 1024 * 1024)),
            query=QueryPolicy(
                objects=objects or QueryPolicy().objects,
                max_limit=int(number("CRM_QUERY_MAX_LIMIT", 10_000, low=1, high=50_000)),
            ),
            batch_max=int(number("CRM_BATCH_MAX", 1000, low=1, high=10_000)),
            retry_after_s=int(number("CRM_RETRY_AFTER_SECONDS", 60, low=1, high=86_400)),
            function_name=env.get("CRM_FUNCTION_NAME")
            or env.get("AWS_LAMBDA_FUNCTION_NAME")
            or cls.function_name,
            function_version=env.get("CRM_FUNCTION_VERSION")
            or env.get("AWS_LAMBDA_FUNCTION_VERSION")
            or cls.function_version,
            cursor_secret_id=env.get("CRM_CURSOR_SECRET_ID", ""),
            cursor_ttl_s=int(number("CRM_CURSOR_TTL_SECONDS", 900, low=60, high=86_400)),
            idempotency_table=env.get("CRM_IDEMPOTENCY_TABLE", ""),
            idempotency_ttl_s=int(number("CRM_IDEMPOTENCY_TTL_SECONDS", 86_400, low=300, high=30 * 86_400)),
        )
        if problems:
            raise CrmConfigError("; ".join(problems))
        return settings
