"""One claim's story (claimsync.operator.claim.claim_story) against moto in-process: which shard of
which run's claim index is read, and what a run that cannot tell says. The index itself is written
by the real steps in the CLI and sync tests; here its shards are placed where FinishRun puts them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from claimsync import layout
from claimsync.operator.claim import (
    INDEX_EXPIRED,
    INDEX_FOUND,
    INDEX_NO_REPORT,
    INDEX_NOT_WRITTEN,
    claim_story,
    soql_string,
)
from claimsync.operator.deployment import Deployment, OperatorError
from claimsync.staging import claim_bucket
from local.targets import aws_salesforce
from tests.unit.test_operator import REGION, STACK, World, deploy_fakes, put_run

pytestmark = pytest.mark.unit

PAGES = 4


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The claim-sync stack's outputs, state machine, bucket and table in moto."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        clients = [
            boto3.client(s, region_name=REGION) for s in ("cloudformation", "stepfunctions", "dynamodb", "s3")
        ]
        yield World(*clients, deployment=deploy_fakes(*clients))


def put_json(world: World, key: str, value: Any) -> None:
    world.s3.put_object(Bucket="staging", Key=key, Body=json.dumps(value).encode())


def finished_run(world: World, run_id: str, started_at: str, index: dict[str, list[dict[str, Any]]]) -> None:
    """A run record with its summary, summary.json and the claim index, sharded over PAGES pages."""
    summary = {"status": "PARTIAL", "rows_in": 3, "page_count": PAGES}
    put_run(world.ddb, run_id, started_at, status="PARTIAL", summary=json.dumps(summary))
    put_json(world, layout.report_key(run_id, "summary.json"), summary)
    shards: dict[int, dict[str, Any]] = {page: {} for page in range(PAGES)}
    for key, rows in index.items():
        shards[claim_bucket(key, PAGES)][key] = rows
    for page, shard in shards.items():
        put_json(world, layout.claim_index_key(run_id, page), shard)


def test_the_story_reads_the_claims_shard_ignoring_case_and_surrounding_spaces(world: World) -> None:
    changed = [{"claim": "AbC-1", "outcome": "changed", "payor": "Mapped", "result": "failed", "error": "X"}]
    finished_run(world, "run-2", "2026-03-02T06:00:00Z", {"abc-1": changed})
    finished_run(world, "run-1", "2026-03-01T06:00:00Z", {"other": [{"claim": "other", "outcome": "new"}]})
    story = claim_story(world.s3, world.ddb, world.deployment, "  ABC-1 ")
    assert [(e.run.run_id, e.index, e.in_report) for e in story] == [
        ("run-2", INDEX_FOUND, True),
        ("run-1", INDEX_FOUND, False),
    ]
    assert story[0].rows == tuple(changed) and story[0].page == claim_bucket("abc-1", PAGES)
    assert claim_story(world.s3, world.ddb, world.deployment, "abc-1", runs=1)[0].run.run_id == "run-2"


def test_a_run_that_cannot_tell_says_why(world: World) -> None:
    finished_run(world, "expired", "2026-03-01T06:00:00Z", {"abc-1": [{"claim": "abc-1", "outcome": "new"}]})
    for item in world.s3.list_objects_v2(Bucket="staging", Prefix="reports/expired/")["Contents"]:
        world.s3.delete_object(Bucket="staging", Key=item["Key"])  # the lifecycle rule's work
    put_run(
        world.ddb, "old", "2026-03-02T06:00:00Z", status="SUCCEEDED", summary=json.dumps({"page_count": 2})
    )
    put_json(world, layout.report_key("old", "summary.json"), {"page_count": 2})  # written before indexes
    put_run(world.ddb, "failed-early", "2026-03-03T06:00:00Z", status="FAILED", failed_state="GatherSources")
    put_run(world.ddb, "failed-late", "2026-03-04T06:00:00Z", status="FAILED", failed_state="SaveCheckpoint")
    put_json(world, layout.report_key("failed-late", "summary.json"), {"page_count": 1})
    put_json(
        world, layout.claim_index_key("failed-late", 0), {"abc-1": [{"claim": "abc-1", "outcome": "new"}]}
    )

    story = {e.run.run_id: e for e in claim_story(world.s3, world.ddb, world.deployment, "abc-1")}
    assert story["expired"].index == INDEX_EXPIRED and story["expired"].in_report is None
    assert story["old"].index == INDEX_NOT_WRITTEN
    assert story["failed-early"].index == INDEX_NO_REPORT
    assert story["failed-late"].index == INDEX_FOUND and story["failed-late"].in_report is True


def test_an_empty_claim_id_is_refused_before_any_call(world: World) -> None:
    with pytest.raises(OperatorError, match="a claim id is needed"):
        claim_story(world.s3, world.ddb, world.deployment, "   ")


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("40000012", "'40000012'"),
        ("O'Brien", "'O\\'Brien'"),
        ("a\\' OR Id != '", "'a\\\\\\' OR Id != \\''"),
        ('x"\n\t', "'x\\\"\\n\\t'"),
    ],
)
def test_soql_string_escapes_quotes_backslashes_and_control_characters(value: str, literal: str) -> None:
    assert soql_string(value) == literal


def test_the_aws_gateway_comes_from_the_secret_the_stack_names(world: World) -> None:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    good = secrets.create_secret(
        Name="claimsync/salesforce",
        SecretString=json.dumps(
            {
                "grant": "client_credentials",
                "token_url": "https://example.invalid/token",
                "client_id": "cid",
                "client_secret": "s3cr3t-value",
            }
        ),
    )["ARN"]
    session = boto3.session.Session(region_name=REGION)
    deployment = Deployment(STACK, "arn:sm", "staging", "sync-state", salesforce_secret=good)
    gateway = aws_salesforce(session, deployment)
    assert gateway._credentials.grant == "client_credentials" and gateway._credentials.client_id == "cid"
    assert not gateway.logged_in, "nothing is called until the query"

    partial = secrets.create_secret(
        Name="claimsync/partial", SecretString=json.dumps({"grant": "password", "password": "hunter2-value"})
    )["ARN"]
    with pytest.raises(OperatorError, match="missing keys") as refused:
        aws_salesforce(session, Deployment(STACK, "arn:sm", "b", "t", salesforce_secret=partial))
    assert "hunter2" not in str(refused.value)
    with pytest.raises(OperatorError, match="no output SalesforceSecretArn"):
        aws_salesforce(session, Deployment(STACK, "arn:sm", "b", "t"))


def test_cli_claim_on_a_stack_without_the_secret_output_tells_the_runs_and_why_salesforce_is_missing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    from local.cli import main

    finished_run(world, "run-1", "2026-03-01T06:00:00Z", {"abc-1": [{"claim": "ABC-1", "row": 7,
                 "outcome": "rejected", "reasons": ["INVALID_AMOUNT:ClaimTotalAmount;INVALID_DATE"]}]})  # fmt: skip
    assert main(["claim", "abc-1", "--region", REGION]) == 0
    out = capsys.readouterr().out
    assert f"Salesforce now: not read (stack '{STACK}' has no output SalesforceSecretArn" in out
    row = out.splitlines()[-1].split(None, 5)
    assert row[:5] == ["run-1", "PARTIAL", "2026-03-01", "06:00:00", "yes"]
    assert row[5] == "rejected (row 7): INVALID_AMOUNT in ClaimTotalAmount; INVALID_DATE"
