"""The deployment settings, read once from ``cdk.json`` context into one typed, validated object.

Every key is a flat context key, so any of them can be overridden on the command line
(``npx cdk deploy -c schedule_expression="cron(0 5 * * ? *)"``); values given on the command line
arrive as strings and are converted by the project's one settings reader (``claimsync.settings``),
which also reads the Lambdas' environment. Unknown keys are not silently ignored where they matter:
``sync`` and ``crm_environment`` are checked against what the Lambda code understands, and ``sync``
is read into ``SyncSettings`` by the same reader, so its defaults (the Salesforce API version among
them: ``claimsync.salesforce.API_VERSION``) are declared once, in the domain package.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from claimsync import settings as reader
from claimsync.config import ConfigError, SyncSettings

# Retention values CloudWatch Logs accepts (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192)
# SyncSettings fields the stack fills itself (resource names) or that only the local world uses.
_STACK_OWNED = frozenset({"bucket", "table", "salesforce_secret_id", "collaboratemd_secret_id", "ca_bundle"})
SYNC_OVERRIDABLE = tuple(f.name for f in fields(SyncSettings) if f.name not in _STACK_OWNED)
# Stand-ins for the resource names the stack fills in, to read and check ``sync`` before they exist.
_VALIDATION_ONLY = dict.fromkeys(("bucket", "table", "salesforce_secret_id", "collaboratemd_secret_id"), "-")


class InfraConfigError(ValueError):
    pass


@dataclass(frozen=True)
class InfraConfig:
    # Naming and environment (account/region empty: an environment-agnostic synth).
    stack_prefix: str = "Claimsync"
    account: str = ""
    region: str = ""
    # EventBridge Scheduler.
    schedule_enabled: bool = True
    schedule_expression: str = "cron(0 6 * * ? *)"
    schedule_timezone: str = "America/New_York"
    schedule_retry_attempts: int = 2
    schedule_max_event_age_seconds: int = 3600
    # Lambda code settings of the claim sync (SyncSettings field -> value); the rest keep defaults.
    sync: Mapping[str, Any] = field(default_factory=dict)
    # S3 lifecycle (days).
    runs_expiry_days: int = 7
    reports_expiry_days: int = 30
    snapshots_expiry_days: int = 35
    noncurrent_expiry_days: int = 1
    # Logs and alarms.
    log_retention_days: int = 90
    alarm_email: str = ""
    salesforce_api_usage_alarm_percent: int = 80
    # Lambda.
    lambda_python_version: str = "3.12"
    lambda_architecture: str = "arm64"
    reserved_concurrency: bool = True
    # CRM API.
    api_auth: str = "iam"  # "iam" | "api_key"
    api_throttle_rate: float = 20.0
    api_throttle_burst: int = 40
    api_quota_per_day: int = 10000  # api_key mode only: the usage plan's quota
    api_cors_origins: tuple[str, ...] = ()
    api_manage_cloudwatch_role: bool = True
    crm_environment: Mapping[str, str] = field(default_factory=dict)
    crm_reserved_concurrency: int = 20

    # ---- reading ------------------------------------------------------------------------------
    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> InfraConfig:
        """Build from a context lookup (``app.node.try_get_context``); absent keys keep defaults."""
        raw = {f.name: get(f.name) for f in fields(cls)}
        config = reader.read(cls, raw, error=InfraConfigError, name_of=lambda name: f"context key {name!r}")
        config.validate()
        return config

    # ---- validation ---------------------------------------------------------------------------
    def validate(self) -> None:
        problems: list[str] = []

        def check(ok: bool, message: str) -> None:
            if not ok:
                problems.append(message)

        check(
            bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,30}", self.stack_prefix)),
            "stack_prefix: letters, digits, '-'",
        )
        check(
            bool(re.fullmatch(r"(cron|rate|at)\(.+\)", self.schedule_expression)),
            "schedule_expression must be cron(...), rate(...) or at(...)",
        )
        check(
            bool(self.schedule_timezone), "schedule_timezone is required (IANA name, e.g. America/New_York)"
        )
        check(0 <= self.schedule_retry_attempts <= 185, "schedule_retry_attempts must be 0..185")
        check(60 <= self.schedule_max_event_age_seconds <= 86400, "schedule_max_event_age_seconds: 60..86400")
        for name in (
            "runs_expiry_days",
            "reports_expiry_days",
            "snapshots_expiry_days",
            "noncurrent_expiry_days",
        ):
            check(getattr(self, name) >= 1, f"{name} must be >= 1")
        check(
            self.snapshots_expiry_days > self.runs_expiry_days,
            "snapshots_expiry_days must exceed runs_expiry_days (a snapshot must outlive any schedule gap)",
        )
        check(
            self.log_retention_days in LOG_RETENTION_DAYS,
            f"log_retention_days must be one of {LOG_RETENTION_DAYS}",
        )
        check(
            not self.alarm_email or bool(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", self.alarm_email)),
            "alarm_email is not an e-mail address",
        )
        check(
            1 <= self.salesforce_api_usage_alarm_percent <= 100, "salesforce_api_usage_alarm_percent: 1..100"
        )
        check(self.lambda_python_version in ("3.12", "3.13"), "lambda_python_version must be 3.12 or 3.13")
        check(self.lambda_architecture in ("arm64", "x86_64"), "lambda_architecture must be arm64 or x86_64")
        check(self.api_auth in ("iam", "api_key"), "api_auth must be 'iam' or 'api_key'")
        check(self.api_throttle_rate > 0 and self.api_throttle_burst > 0, "api throttling must be positive")
        check(self.api_quota_per_day > 0, "api_quota_per_day must be positive")
        check(self.crm_reserved_concurrency >= 1, "crm_reserved_concurrency must be >= 1")
        unknown = sorted(set(self.sync) - set(SYNC_OVERRIDABLE))
        check(not unknown, f"sync: unknown settings {unknown}; allowed: {list(SYNC_OVERRIDABLE)}")
        bad_env = sorted(k for k in self.crm_environment if not re.fullmatch(r"CRM_[A-Z0-9_]+", k))
        check(not bad_env, f"crm_environment keys must look like CRM_NAME: {bad_env}")
        if not unknown:
            try:
                self.sync_settings(**_VALIDATION_ONLY)
            except ConfigError as exc:
                problems.append(f"sync: {exc}")
        if problems:
            raise InfraConfigError("invalid cdk.json context: " + "; ".join(problems))

    # ---- derived values -----------------------------------------------------------------------
    def sync_settings(
        self, *, bucket: str, table: str, salesforce_secret_id: str, collaboratemd_secret_id: str
    ) -> SyncSettings:
        """The Lambda settings of the claim sync: ``sync`` read by the one settings reader (the
        defaults are ``SyncSettings``'), with the stack's resource names filled in."""
        names = {
            "bucket": bucket,
            "table": table,
            "salesforce_secret_id": salesforce_secret_id,
            "collaboratemd_secret_id": collaboratemd_secret_id,
        }
        settings = reader.read(SyncSettings, {**self.sync, **names}, error=ConfigError)
        settings.validate()
        return settings

    @property
    def salesforce_api_version(self) -> str:
        """The version every function calls: ``sync.salesforce_api_version``, or the domain's."""
        return self.sync_settings(**_VALIDATION_ONLY).salesforce_api_version

    @property
    def pip_architecture(self) -> str:
        return {"arm64": "aarch64", "x86_64": "x86_64"}[self.lambda_architecture]

    def stack_name(self, part: str) -> str:
        return f"{self.stack_prefix}-{part}"
