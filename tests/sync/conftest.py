"""The local world for the claim-sync workflow tests: both emulators, moto running the real ASL, and
the real handlers, started once per session and reset before every test."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from claimsync import layout
from local.aws import LocalAws
from local.collaboratemd_emulator.generator import GeneratorSettings, generate_rows
from local.syncrun import aws_client, run_sync, salesforce_counters
from local.syncworld import apply_settings, local_settings
from local.world import LocalWorld, WorldOptions, salesforce_gateway, seed_payor_mappings

TEST_DEFAULTS: dict[str, Any] = {"page_size": 100}
CLAIM_SOQL = (
    "SELECT Claim_Number__c, Name, Balance__c, Paid_Amount__c, Claim_Payor__c, Payor_Mapping_Status__c,"
    " Last_Sync_Run__c FROM Claim__c"
)


@dataclass
class World:
    endpoints: dict[str, Any]
    aws: LocalAws
    logs: list[str] = field(default_factory=list)
    local: LocalWorld | None = None  # the world object itself, when this process runs it

    # -- emulator admin ------------------------------------------------------------------------------
    def _admin(self, system: str, method: str, path: str, **kwargs: Any) -> Any:
        e = self.endpoints[system]
        resp = requests.request(method, e["admin_url"] + path, verify=e["ca_cert"], timeout=60, **kwargs)
        assert resp.status_code < 300, (path, resp.status_code, resp.text[:300])
        return resp.json() if resp.content else None

    def cmd(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._admin("collaboratemd", method, path, **kwargs)

    def sf(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._admin("salesforce", method, path, **kwargs)

    def set_rows(self, rows: list[dict[str, str]]) -> None:
        self.cmd("PUT", "/rows", json=rows)

    def claims_in_salesforce(self) -> dict[str, dict[str, Any]]:
        gw = salesforce_gateway(self.endpoints)
        return {r["Claim_Number__c"]: r for r in gw.query_all(CLAIM_SOQL)}

    def sf_counters(self) -> dict[str, Any]:
        return salesforce_counters(self.endpoints)

    # -- AWS state -------------------------------------------------------------------------------------
    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        ddb = aws_client(self.endpoints, "dynamodb")
        got = ddb.get_item(
            TableName=self.endpoints["aws"]["table"],
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConsistentRead=True,
        )
        return got.get("Item")

    def checkpoint(self) -> dict[str, Any] | None:
        return self.item(layout.CHECKPOINT_PK, layout.CHECKPOINT_SK)

    def lock(self) -> dict[str, Any] | None:
        return self.item(layout.LOCK_PK, layout.LOCK_SK)

    def put_lock(self, owner: str, lock_until: int) -> None:
        ddb = aws_client(self.endpoints, "dynamodb")
        ddb.put_item(
            TableName=self.endpoints["aws"]["table"],
            Item={
                "pk": {"S": layout.LOCK_PK},
                "sk": {"S": layout.LOCK_SK},
                "owner": {"S": owner},
                "lock_until": {"N": str(lock_until)},
            },
        )

    def s3_text(self, uri: str) -> str:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        return aws_client(self.endpoints, "s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()

    def history_text(self, execution_name: str) -> str:
        sfn = aws_client(self.endpoints, "stepfunctions")
        arn = (
            self.endpoints["aws"]["state_machine_arn"].replace(":stateMachine:", ":execution:")
            + ":"
            + execution_name
        )
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return json.dumps(events, default=str)

    def settled(self, execution_arn: str, timeout_s: float = 60) -> Any:
        """The delivery of the execution's abnormal end to AbnormalEnd (the EventBridge rule's)."""
        assert self.local is not None and self.local.abnormal_ends is not None
        return self.local.abnormal_ends.wait_for(execution_arn, timeout_s=timeout_s)

    # -- running ---------------------------------------------------------------------------------------
    def sync(self, **kwargs: Any) -> dict[str, Any]:
        checkpoint_before = self.checkpoint()
        summary = run_sync(self.endpoints, deadline_s=240, **kwargs)
        summary["_checkpoint_before"] = checkpoint_before
        return summary

    def configure(self, **overrides: Any) -> None:
        apply_settings(
            self.aws,
            local_settings(self.endpoints["salesforce"]["ca_cert"], **{**TEST_DEFAULTS, **overrides}),
        )


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) - {
    "msg",
    "args",
    "exc_info",
    "exc_text",
}


class _Capture(logging.Handler):
    """Every log record's message, arguments, extras and exception text, from every logger."""

    def __init__(self, sink: list[str]) -> None:
        super().__init__(level=logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        fields["message"] = record.getMessage()
        if record.exc_info:
            fields["exception"] = logging.Formatter().formatException(record.exc_info)
        self.sink.append(json.dumps(fields, default=str))


def leaked(text: str, values: set[str]) -> list[str]:
    """The values found in ``text`` as whole tokens (not digits inside a longer number)."""
    tokens = set(re.findall(r"[\w-]+", text))
    return sorted(v for v in values if ((v in tokens) if re.fullmatch(r"[\w-]+", v) else (v in text)))


@pytest.fixture(scope="module")  # module, not session: one LocalAws per process (tests/workflow has its own)
def _world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    state: Path = tmp_path_factory.mktemp("local-world")
    world = LocalWorld(WorldOptions(state_dir=state, claims=0, sync_overrides=TEST_DEFAULTS))
    endpoints = world.start()
    try:
        yield World(endpoints, world.aws, local=world)
    finally:
        world.stop()


@pytest.fixture
def world(_world: World) -> Iterator[World]:
    """A clean world: no claims in Salesforce (payor mappings re-seeded), no faults, empty AWS state."""
    w = _world
    w.cmd("POST", "/reset")
    w.cmd("DELETE", "/faults")
    w.cmd("POST", "/config", json={"running_polls": 1, "members": ["json"]})
    w.sf("POST", "/reset")
    seed_payor_mappings(salesforce_gateway(w.endpoints))
    w.sf("POST", "/counters/reset")
    s3 = aws_client(w.endpoints, "s3")
    bucket = w.endpoints["aws"]["bucket"]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
    ddb = aws_client(w.endpoints, "dynamodb")
    table = w.endpoints["aws"]["table"]
    for item in ddb.scan(TableName=table)["Items"]:
        ddb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    w.configure()

    w.logs = []
    capture = _Capture(w.logs)
    loggers = [logging.getLogger(), logging.getLogger("claimsync")]
    root_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.INFO)  # what a deployed Lambda logs
    for lg in loggers:
        lg.addHandler(capture)
    try:
        yield w
    finally:
        for lg in loggers:
            lg.removeHandler(capture)
        logging.getLogger().setLevel(root_level)


def clean_rows(claims: int, seed: int = 11, **shares: float) -> list[dict[str, str]]:
    settings = {"malformed_share": 0.0, "duplicate_share": 0.0, "unmapped_share": 0.0, **shares}
    return generate_rows(GeneratorSettings(claims=claims, seed=seed, **settings))


PHI_COLUMNS = ("ClaimID", "PateintNameID", "PatientReference", "PrimaryAuth", "PaymentCheck")


def phi_values(rows: list[dict[str, str]]) -> set[str]:
    values = set()
    for row in rows:
        for column in PHI_COLUMNS:
            value = row.get(column, "").strip()
            if len(value) >= 6:
                values.add(value.split(" (")[0])  # the name part of "LAST, FIRST (id)"
    return values


def assert_invariants(world: World, summary: dict[str, Any], rows: list[dict[str, str]]) -> None:
    """What every run must satisfy: accounting, and no claim value in logs or execution history."""
    if summary["status"] not in ("FAILED", "ALREADY_RUNNING"):
        assert summary["rows_in"] == len(rows)
        assert summary["rows_in"] == summary["sent"] + summary["unchanged"] + summary["rejected"]
        if not summary["dry_run"]:
            assert summary["sent"] == summary["succeeded"] + summary["failed"]
        else:
            assert summary["succeeded"] == summary["failed"] == 0
    assert world.lock() is None, "the lock must be released whatever happened"
    if "_checkpoint_before" in summary:  # the checkpoint moves only when a (non-dry) run finishes
        after = world.checkpoint()
        if summary["status"] in ("SUCCEEDED", "PARTIAL"):
            assert after is not None and after["last_run_id"]["S"] == summary["run_id"]
        else:
            assert after == summary["_checkpoint_before"], (
                "a failed, dry or refused run leaves the checkpoint"
            )
    values = phi_values(rows)
    leaked_logs = leaked("\n".join(world.logs), values)
    assert not leaked_logs, f"claim values in logs: {len(leaked_logs)}"
    history = world.history_text(summary["execution"])
    leaked_history = leaked(history, values)
    assert not leaked_history, f"claim values in execution history: {len(leaked_history)}"
