"""Settings of the claim sync, read once at the edge (a handler's cold start) and passed down.

Everything comes from environment variables ``CLAIMSYNC_<FIELD>`` set by the stack (or by the local
runner), read by the project's one settings reader (``claimsync.settings``): each default and bound
is declared once, on its field below. Nothing deeper in the package reads ``os.environ``. Secrets
are never in the environment: only the ids of the Secrets Manager secrets that hold them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from claimsync import settings as reader
from claimsync.errors import ClaimsyncError
from claimsync.salesforce import API_VERSION, API_VERSION_PATTERN
from claimsync.settings import setting

ENV_PREFIX = "CLAIMSYNC_"


class ConfigError(ClaimsyncError):
    pass


@dataclass(frozen=True)
class SyncSettings:
    bucket: str
    table: str
    salesforce_secret_id: str
    collaboratemd_secret_id: str
    salesforce_api_version: str = setting(API_VERSION, pattern=API_VERSION_PATTERN)
    # target claims per page; pages are hash buckets, a power of two in number
    page_size: int = setting(5000, low=1)
    max_pages: int = setting(256, low=1)  # keeps the inline Map far below Step Functions' history limit
    report_poll_seconds: int = setting(20, low=1)  # first wait between results polls; doubles up to the max
    report_poll_max_seconds: int = setting(120, low=1)
    report_deadline_seconds: int = setting(1800, low=1)  # CollaborateMD gives a report about 15 minutes
    upload_poll_seconds: int = setting(5, low=1)
    # Bulk polls wait for the time the open jobs' remaining records should take at their measured rate
    # (before any is measured: at bulk_records_per_second for each job, Salesforce working on a run's
    # jobs in parallel), so a job costs a few polls whatever its size.
    upload_poll_max_seconds: int = setting(600, low=1)
    bulk_records_per_second: int = setting(2000, low=1)
    upload_deadline_seconds: int = setting(3600, low=1)
    lock_ttl_seconds: int = setting(4 * 3600, low=1)  # a crashed run's lock is taken over after this
    # at or below: sObject Collections (≤5 calls); above: one Bulk job
    collections_max_rows: int = setting(1000, low=0, high=2000)
    # resubmissions of rows that failed for transient reasons
    transient_retry_rounds: int = setting(2, low=0, high=5)
    mapping_path: str = ""  # empty: the packaged default mapping
    ca_bundle: str = ""  # local world only: the CA that signs the emulators' certificates
    http_timeout_seconds: float = setting(60.0, low=1)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SyncSettings:
        settings = reader.from_env(cls, env, prefix=ENV_PREFIX, error=ConfigError)
        settings.validate()
        return settings

    def validate(self) -> None:
        """The declared bounds, and what no single field can say."""
        problems = reader.check(self)
        if self.max_pages & (self.max_pages - 1):
            problems.append("max_pages must be a power of two")
        if problems:
            raise ConfigError(f"invalid settings: {'; '.join(problems)}")


def settings_to_env(settings: SyncSettings) -> dict[str, str]:
    """The environment that reproduces ``settings`` (used by the stack and the local runner)."""
    return reader.to_env(settings, prefix=ENV_PREFIX)
