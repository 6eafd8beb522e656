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

import ctypes
import ctypes.util
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters

from claimsync.collaboratemd import CmdSettings, CollaborateMDClient
from claimsync.config import ConfigError, SyncSettings
from claimsync.errors import ClaimsyncError
from claimsync.mapping import ClaimMapping
from claimsync.mapping_file import load_mapping
from claimsync.report_registry import ReportRegistry
from claimsync.salesforce.auth import SalesforceCredentials
from claimsync.salesforce.gateway import SalesforceGateway
from claimsync.staging import Staging
from claimsync.steps import STEPS
from claimsync.steps.contract import from_payload, to_payload

logger = Logger(service="claimsync")

# claimsync's own errors promise messages without claim values (claimsync.errors)
SAFE_ERRORS: tuple[type[BaseException], ...] = (ClaimsyncError,)


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
def aws(service: str) -> Any:
    """A boto3 client of ``service`` (built once per cold start, like the others here)."""
    return boto3.client(service)


@functools.cache
def staging() -> Staging:
    return Staging(boto3.client("s3"), settings().bucket)


@functools.cache
def report_registry() -> ReportRegistry:
    return ReportRegistry(boto3.client("dynamodb"), settings().table)


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


class LambdaDeps:
    """``claimsync.steps.deps.Deps`` for one invocation: the process's cached clients, the clock."""

    @property
    def now(self) -> float:
        """The time now (a clock, not the invocation's start: StartUpload stamps each Bulk job it
        closes, and a later job may be closed half a minute after the first)."""
        return time.time()

    @property
    def settings(self) -> SyncSettings:
        return settings()

    @property
    def mapping(self) -> ClaimMapping:
        return mapping()

    @property
    def staging(self) -> Staging:
        return staging()

    @property
    def salesforce(self) -> SalesforceGateway:
        return salesforce()

    @property
    def collaboratemd(self) -> CollaborateMDClient:
        return collaboratemd()

    @property
    def reports(self) -> ReportRegistry:
        return report_registry()


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        return trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Hand the memory a step freed back to the system (glibc ``malloc_trim``) before the execution
    environment waits for the next invocation. Without it a warm environment's resident size crept up
    invocation after invocation (TransformPage: +14 MB over its first 30 pages, measured), so its
    Max Memory Used grew with the number of pages a run has rather than with one page's work."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def step_handler(state: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler of one state machine task: the payload → the step's input dataclass → the
    step → its output as JSON. Logs the step's name and the output's counts (never a claim value)."""
    step = STEPS[state]

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            result = to_payload(step.function(LambdaDeps(), from_payload(step.task, event)))
        finally:
            release_free_memory()
        logger.info(f"{state} done", extra={k: v for k, v in result.items() if isinstance(v, int | str)})
        return result

    handler.__module__ = f"handlers.{state}"
    return lambda_handler(handler)


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

    return logger.inject_lambda_context(log_event=False)(wrapper)  # type: ignore[return-value]
