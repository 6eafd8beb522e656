"""Settings of the CRM API, read once from the environment at the edge (a cold start) and passed down.

Each field below declares its default, its bounds and its variable (``CRM_<FIELD>`` unless it names
another), read by the project's one settings reader (``claimsync.settings``); docs/crm-api.md lists
them for operators (a test keeps that table in step with these fields).

The secret ids name secrets; the values are read at run time (Powertools parameters, cached) and
never pass through the environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from claimsync import settings as reader
from claimsync.crm.soql import QueryPolicy
from claimsync.salesforce import API_VERSION, API_VERSION_PATTERN
from claimsync.settings import setting

ENV_PREFIX = "CRM_"
OBJECT_NAME = r"[A-Za-z][A-Za-z0-9_]*"  # a Salesforce object API name


class CrmConfigError(Exception):
    pass


@dataclass(frozen=True)
class CrmSettings:
    # The Secrets Manager secret with the Salesforce credentials (required unless a gateway is injected).
    salesforce_secret_id: str = setting("", env="CLAIMSYNC_SALESFORCE_SECRET_ID")
    salesforce_api_version: str = setting(
        API_VERSION, env="CLAIMSYNC_SALESFORCE_API_VERSION", pattern=API_VERSION_PATTERN
    )
    ca_bundle: str = setting("", env="CLAIMSYNC_CA_BUNDLE")  # local world only: the emulator's CA
    # Read timeout of one Salesforce call (below API Gateway's 29 s).
    salesforce_timeout_s: float = setting(20.0, env="CRM_SALESFORCE_TIMEOUT_SECONDS", low=1, high=900)
    max_body_bytes: int = setting(1_048_576, low=1024, high=6 * 1024 * 1024)  # 413 beyond
    # Objects POST /query may read; empty: the objects the API serves (claimsync.crm.objects.OBJECTS).
    query_objects: tuple[str, ...] = setting((), pattern=OBJECT_NAME)
    query_max_limit: int = setting(10_000, low=1, high=50_000)  # largest LIMIT (added when absent)
    batch_max: int = setting(1000, low=1, high=10_000)  # most records in one batch (413 beyond)
    retry_after_s: int = setting(60, env="CRM_RETRY_AFTER_SECONDS", low=1, high=86_400)  # of a 429
    # What GET /health reports.
    function_name: str = setting("claimsync-crm-api", fallback=("AWS_LAMBDA_FUNCTION_NAME",))
    function_version: str = setting("$LATEST", fallback=("AWS_LAMBDA_FUNCTION_VERSION",))
    # The secret whose value signs /query cursors (required for paging unless a key is injected).
    cursor_secret_id: str = ""
    cursor_ttl_s: int = setting(900, env="CRM_CURSOR_TTL_SECONDS", low=60, high=86_400)
    # The DynamoDB table of Idempotency-Key answers (required for keyed creates unless a store is injected).
    idempotency_table: str = ""
    idempotency_ttl_s: int = setting(86_400, env="CRM_IDEMPOTENCY_TTL_SECONDS", low=300, high=30 * 86_400)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CrmSettings:
        return reader.from_env(cls, env, prefix=ENV_PREFIX, error=CrmConfigError)

    def query_policy(self, served: Iterable[str]) -> QueryPolicy:
        """The SOQL guard's policy: ``query_objects``, or else the objects the API serves."""
        return QueryPolicy(objects=self.query_objects or tuple(served), max_limit=self.query_max_limit)


def settings_to_env(settings: CrmSettings) -> dict[str, str]:
    """The environment ``CrmSettings.from_env`` reads ``settings`` back from."""
    return reader.to_env(settings, prefix=ENV_PREFIX)
