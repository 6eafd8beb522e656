"""Workflow fixtures: one local AWS (moto server mode, in this process) shared by the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.aws import LocalAws, start_local_aws


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    # moto's backends and the interpreter patches are process-global: one LocalAws at a time.
    aws = start_local_aws()
    try:
        yield aws
    finally:
        aws.stop()


@pytest.fixture
def handler_env(local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment handlers read their AWS endpoint and credentials from, applied."""
    env = local_aws.handler_environment()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
