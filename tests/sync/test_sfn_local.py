"""A representative subset of the workflow tests, with the state machine run by Step Functions Local
(Docker) instead of moto's interpreter. Lambda, DynamoDB, S3 and Secrets Manager stay on moto (the
container reaches it through LAMBDA_ENDPOINT / DYNAMODB_ENDPOINT), the handlers and emulators are the
same, and so are the assertions (``assert_invariants`` from tests/sync/conftest.py).

Skipped unless CLAIMSYNC_SFN_LOCAL_ENDPOINT is set (with CLAIMSYNC_MOTO_PORT); see
docs/local-world.md, "Step Functions Local (optional)". tests/sync/test_claim_sync.py covers the whole
workflow on moto without it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.collaboratemd_emulator.generator import mutate_rows
from local.sfn_local import SFN_LOCAL_SYNC_OVERRIDES, config_from_env, use_sfn_local
from local.syncrun import aws_client
from local.world import LocalWorld, WorldOptions
from tests.sync.conftest import TEST_DEFAULTS, World, assert_invariants, clean_rows

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
    """Every (re)configuration keeps the short polls: Step Functions Local sleeps Wait states for real."""

    def configure(self, **overrides: Any) -> None:
        super().configure(**{**SFN_LOCAL_SYNC_OVERRIDES, **overrides})


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
        yield SfnLocalWorld(endpoints)
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


def test_full_then_incremental(world):
    rows = clean_rows(300, unmapped_share=0.05)
    world.set_rows(rows)

    first = world.sync()
    assert_invariants(world, first, rows)
    assert ran_on_sfn_local(world, first)
    assert first["status"] == "SUCCEEDED"
    assert first["sent"] == first["succeeded"] == 300 and first["new"] == 300
    landed = world.claims_in_salesforce()
    assert set(landed) == {r["ClaimID"] for r in rows}
    assert world.checkpoint()["last_run_id"]["S"] == first["run_id"]

    changed_rows, changed_ids = mutate_rows(rows, share=0.05, seed=3)
    world.set_rows(changed_rows)
    second = world.sync()
    assert_invariants(world, second, changed_rows)
    assert second["sent"] == len(changed_ids) == second["changed"] and second["new"] == 0
    assert second["unchanged"] == 300 - len(changed_ids)
    landed = world.claims_in_salesforce()
    assert {c for c, r in landed.items() if r["Last_Sync_Run__c"] == second["run_id"]} == set(changed_ids)


def test_a_run_holding_the_lock_makes_the_next_end_as_already_running(world):
    world.set_rows(clean_rows(20))
    world.put_lock("someone-else", int(time.time()) + 3600)
    summary = world.sync()
    assert summary["status"] == "ALREADY_RUNNING" and summary["execution_status"] == "SUCCEEDED"
    assert world.lock()["owner"]["S"] == "someone-else", "the other run's lock is untouched"
    assert world.claims_in_salesforce() == {}


def test_a_collaboratemd_report_failure_fails_the_run_and_releases_the_lock(world):
    rows = clean_rows(30)
    world.set_rows(rows)
    world.sync()
    checkpoint = world.checkpoint()
    world.cmd("POST", "/faults", json={"results_status": "REPORT TIMED OUT", "count": 1})
    summary = world.sync(full=True)
    assert_invariants(world, summary, rows)  # includes: the lock is released
    assert summary["status"] == "FAILED" and summary["error"] == "CmdReportFailed"
    assert "REPORT TIMED OUT" in summary["cause"]
    assert world.checkpoint() == checkpoint, "the checkpoint does not move on a failed run"
    record = world.item("RUN", summary["execution"])
    assert record["status"]["S"] == "FAILED" and record["failed_state"]["S"] == "GatherSources"
    assert record["error"]["S"] == "CmdReportFailed"


def test_unable_to_lock_row_rows_are_retried_and_land(world):
    rows = clean_rows(400)
    world.set_rows(rows)
    world.configure(collections_max_rows=50)
    world.sf(
        "POST", "/faults", json={"lock_row_share": 0.1, "lock_row_seed": 4, "lock_row_max_per_record": 1}
    )
    summary = world.sync()
    assert_invariants(world, summary, rows)
    assert summary["status"] == "SUCCEEDED" and summary["succeeded"] == 400 and summary["failed"] == 0
    assert len(world.claims_in_salesforce()) == 400
    kinds = world.sf_counters()["by_kind"]
    assert kinds["bulk_create_job"] == 1 and kinds.get("composite_upsert", 0) >= 1, (
        "the locked rows were resent"
    )
