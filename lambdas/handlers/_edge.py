"""What every claim-sync handler shares: settings read once, cached clients, logging, error surface.

Settings and clients are built on first use in a process (a Lambda cold start) and reused by warm
invocations: the Salesforce session too, so a warm run does not log in again. Secrets come from
Secrets Manager through Powertools' parameters utility (cached for five minutes), never from the
environment.

Error surface: the state machine retries and catches by exception class name (the Lambda
``errorType``). Exceptions of this project carry no claim values in their messages; anything else
(a library's KeyError could hold a value) is replaced by ``UnexpectedError`` naming only its type,
so no PHI reaches execution history, CloudWatch Logs or the run record.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters

from claimsync.bulk_csv import DuplicateExternalIdError
from claimsync.collaboratemd import CmdSettings, CollaborateMDClient, CollaborateMDError
from claimsync.config import ConfigError, SyncSettings
from claimsync.mapping import ClaimMapping, MappingError, load_mapping
from claimsync.report import ReportFormatError
from claimsync.runinput import InvalidInput
from claimsync.salesforce import SalesforceCredentials, SalesforceError, SalesforceGateway
from claimsync.staging import Staging
from claimsync.sync import AccountingError, BulkJobRejected, ReportDeadlineExceeded, UploadDeadlineExceeded

logger = Logger(service="claimsync")

SAFE_ERRORS: tuple[type[BaseException], ...] = (
    CollaborateMDError,
    SalesforceError,
    ReportFormatError,
    InvalidInput,
    ConfigError,
    MappingError,
    ReportDeadlineExceeded,
    UploadDeadlineExceeded,
    BulkJobRejected,
    AccountingError,
    DuplicateExternalIdError,
)


class UnexpectedError(Exception):
    """An error this project did not anticipate; only its type is kept (its message could hold data)."""


@functools.cache
def settings() -> SyncSettings:
    return SyncSettings.from_env(os.environ)


@functools.cache
def mapping() -> ClaimMapping:
    path = settings().mapping_path
    return load_mapping(Path(path) if path else None)


@functools.cache
def staging() -> Staging:
    return Staging(boto3.client("s3"), settings().bucket)


def _secret(secret_id: str) -> dict[str, Any]:
    value = parameters.get_secret(secret_id, transform="json", max_age=300)
    if not isinstance(value, dict):
        raise ConfigError("a claimsync secret must hold a JSON object")
    return value


@functools.cache
def salesforce() -> SalesforceGateway:
    s = settings()
    return SalesforceGateway(
        SalesforceCredentials.from_secret(_secret(s.salesforce_secret_id)),
        api_version=s.salesforce_api_version,
        timeout_s=s.http_timeout_seconds,
        ca_bundle=s.ca_bundle or None,
    )


@functools.cache
def collaboratemd() -> CollaborateMDClient:
    s = settings()
    return CollaborateMDClient(
        CmdSettings.from_secret(_secret(s.collaboratemd_secret_id)),
        timeout_s=s.http_timeout_seconds,
        ca_bundle=s.ca_bundle or None,
    )


F = TypeVar("F", bound=Callable[..., Any])


def lambda_handler(func: F) -> F:
    """Wrap a handler: Powertools context logging, and the PHI-safe error surface described above."""

    @functools.wraps(func)
    def wrapper(event: dict[str, Any], context: Any) -> Any:
        try:
            return func(event, context)
        except SAFE_ERRORS as exc:
            logger.error("step failed", extra={"error": type(exc).__name__, "detail": str(exc)})
            raise
        except Exception as exc:
            if type(exc).__module__.startswith("botocore"):
                logger.error("AWS call failed", extra={"error": type(exc).__name__})
                raise
            logger.error("unexpected error", extra={"error": type(exc).__name__})
            raise UnexpectedError(f"{type(exc).__name__} in {func.__module__}") from None

    return logger.inject_lambda_context(log_event=False)(wrapper)  # type: ignore[no-any-return]
