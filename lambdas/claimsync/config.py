"""Settings of the claim sync, read once at the edge (a handler's cold start) and passed down.

Everything comes from environment variables set by the stack (or by the local runner). Nothing
deeper in the package reads ``os.environ``. Secrets are never in the environment: only the ids of
the Secrets Manager secrets that hold them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from claimsync.errors import ClaimsyncError


class ConfigError(ClaimsyncError):
    pass


@dataclass(frozen=True)
class SyncSettings:
    bucket: str
    table: str
    salesforce_secret_id: str
    collaboratemd_secret_id: str
    salesforce_api_version: str = "62.0"
    page_size: int = 5000  # target claims per page; pages are hash buckets, a power of two in number
    max_pages: int = 256  # keeps the inline Map far below Step Functions' history limit
    report_poll_seconds: int = 20  # first wait between results polls; doubles up to the max below
    report_poll_max_seconds: int = 120
    report_deadline_seconds: int = 1800  # CollaborateMD gives a report about 15 minutes
    upload_poll_seconds: int = 5
    upload_poll_max_seconds: int = 60
    upload_deadline_seconds: int = 3600
    lock_ttl_seconds: int = 4 * 3600  # a crashed run's lock is taken over after this
    collections_max_rows: int = 1000  # at or below: sObject Collections (≤5 calls); above: one Bulk job
    transient_retry_rounds: int = 2  # resubmissions of rows that failed for transient reasons
    mapping_path: str = ""  # empty: the packaged default mapping
    ca_bundle: str = ""  # local world only: the CA that signs the emulators' certificates
    http_timeout_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SyncSettings:
        values: dict[str, object] = {}
        problems = []
        for f in fields(cls):
            name = f"CLAIMSYNC_{f.name.upper()}"
            if name not in env:
                continue
            raw = env[name]
            try:
                values[f.name] = _cast(f.type, raw)
            except ValueError:
                problems.append(f"{name} must be a {f.type}")
        for required in ("bucket", "table", "salesforce_secret_id", "collaboratemd_secret_id"):
            if not values.get(required):
                problems.append(f"CLAIMSYNC_{required.upper()} is required")
        if problems:
            raise ConfigError("; ".join(problems))
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        checks = {
            "page_size": self.page_size >= 1,
            "max_pages": self.max_pages >= 1 and (self.max_pages & (self.max_pages - 1)) == 0,
            "collections_max_rows": 0 <= self.collections_max_rows <= 2000,
            "transient_retry_rounds": 0 <= self.transient_retry_rounds <= 5,
            "report_deadline_seconds": self.report_deadline_seconds > 0,
            "upload_deadline_seconds": self.upload_deadline_seconds > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"invalid settings: {bad} (max_pages must be a power of two)")


def _cast(type_name: object, raw: str) -> object:
    kind = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", "str")
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    return raw


def settings_to_env(settings: SyncSettings) -> dict[str, str]:
    """The environment that reproduces ``settings`` (used by the stack and the local runner)."""
    return {f"CLAIMSYNC_{f.name.upper()}": str(getattr(settings, f.name)) for f in fields(settings)}
