"""A representative subset of the workflow tests — the very scenarios of tests/sync/test_claim_sync.py
— with the state machine run by Step Functions Local (Docker) instead of moto's interpreter. Lambda,
DynamoDB, S3 and Secrets Manager stay on moto (the container reaches it through LAMBDA_ENDPOINT /
DYNAMODB_ENDPOINT); the handlers, emulators and assertions are the same. Every run of every scenario
is also checked to have executed in Step Functions Local (``SfnLocalWorld.sync``).

Skipped unless CLAIMSYNC_SFN_LOCAL_ENDPOINT is set (with CLAIMSYNC_MOTO_PORT); see
docs/local-world.md, "Step Functions Local (optional)". tests/sync/test_claim_sync.py covers the whole
workflow on moto without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.sfn_local import SFN_LOCAL_SYNC_OVERRIDES, config_from_env, use_sfn_local
from local.syncrun import aws_client
from local.world import LocalWorld, WorldOptions
from tests.sync import test_claim_sync as scenarios  # module import: pytest does not collect them twice
from tests.sync.conftest import TEST_DEFAULTS, World

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(
        not os.environ.get("CLAIMSYNC_SFN_LOCAL_ENDPOINT"),
        reason=(
            "Step Functions Local not configured: set CLAIMSYNC_SFN_LOCAL_ENDPOINT "
            "(needs Docker, see docs/local-world.md)"
        ),
    ),
]


class SfnLocalWorld(World):
    """Every (re)configuration keeps the short polls: Step Functions Local sleeps Wait states for real;
    every run is checked to have executed in Step Functions Local, not in moto."""

    def configure(self, **overrides: Any) -> None:
        super().configure(**{**SFN_LOCAL_SYNC_OVERRIDES, **overrides})

    def sync(self, **kwargs: Any) -> dict[str, Any]:
        summary = super().sync(**kwargs)
        assert ran_on_sfn_local(self, summary), "the execution ran in moto, not in Step Functions Local"
        return summary


@pytest.fixture(scope="module")
def _world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Overrides tests/sync/conftest.py's ``_world`` for this module (its per-test ``world`` fixture then
    resets this one). Module scope: one LocalAws per process, and test_claim_sync.py's is stopped first.
    """
    config = config_from_env()  # set (the skipif above); SfnLocalError if half-configured
    assert config is not None
    state: Path = tmp_path_factory.mktemp("local-world-sfn-local")
    world = LocalWorld(
        WorldOptions(
            state_dir=state,
            claims=0,
            moto_port=config.moto_port,
            sync_overrides={**TEST_DEFAULTS, **SFN_LOCAL_SYNC_OVERRIDES},
        )
    )
    endpoints = world.start()
    try:
        use_sfn_local(endpoints, config)
        yield SfnLocalWorld(endpoints, world.aws)
    finally:
        world.stop()


def ran_on_sfn_local(world: World, summary: dict[str, Any]) -> bool:
    """The execution exists in Step Functions Local and not in moto's interpreter."""
    aws = world.endpoints["aws"]
    execution_arn = (
        aws["state_machine_arn"].replace(":stateMachine:", ":execution:") + ":" + summary["execution"]
    )
    local = aws_client(world.endpoints, "stepfunctions").describe_execution(executionArn=execution_arn)
    moto = aws_client({"aws": {**aws, "stepfunctions_endpoint": None}}, "stepfunctions")
    in_moto = moto.list_executions(stateMachineArn=aws["moto_state_machine_arn"])["executions"]
    return local["name"] == summary["execution"] and not in_moto


# The scenarios of the moto suite, run unchanged on this module's world.


def test_full_then_incremental(world):
    scenarios.test_full_then_incremental_then_nothing(world)


def test_a_run_holding_the_lock_makes_the_next_end_as_already_running(world):
    scenarios.test_a_run_holding_the_lock_makes_the_next_end_as_already_running(world)


def test_a_collaboratemd_report_failure_fails_the_run_and_releases_the_lock(world):
    timed_out = {"kind": "results_status", "status": "REPORT TIMED OUT", "count": 1}
    scenarios.test_report_failures_fail_the_run_cleanly(
        world, timed_out, "CmdReportFailed", "REPORT TIMED OUT"
    )


def test_unable_to_lock_row_rows_are_retried_and_land(world):
    scenarios.test_unable_to_lock_row_rows_are_retried_and_land(world)
