"""Record the execution histories tests/unit/test_progress.py reads: ``python -m tests.unit.histories.record``.

Each scenario is one real run on an in-process local world (moto executing the real ASL with the
real handlers, faults injected in the emulators). The history is trimmed to what the progress
tracker reads (state inputs and outputs other than the Wait states' inputs are dropped; error causes
lose their stack traces) and written as JSON next to this file.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests

from local.collaboratemd_emulator.generator import GeneratorSettings, generate_rows
from local.syncrun import aws_client, follow, start_sync
from local.world import LocalWorld, WorldOptions

HERE = Path(__file__).resolve().parent


def _admin(endpoints: dict[str, Any], system: str, path: str, body: Any) -> None:
    e = endpoints[system]
    requests.post(e["admin_url"] + path, json=body, verify=e["ca_cert"], timeout=60).raise_for_status()


def _trim(event: dict[str, Any]) -> dict[str, Any]:
    event = {k: v for k, v in event.items() if k != "ResponseMetadata"}
    event["timestamp"] = event["timestamp"].isoformat()
    for key, details in list(event.items()):
        if not key.endswith("EventDetails") or not isinstance(details, dict):
            continue
        details = dict(details)
        if (
            key in ("stateEnteredEventDetails", "stateExitedEventDetails")
            and event["type"] != "WaitStateEntered"
        ):
            details.pop("input", None)
            details.pop("output", None)
        if key in ("lambdaFunctionScheduledEventDetails", "taskScheduledEventDetails"):
            details.pop("input", None)
            details.pop("parameters", None)
        if isinstance(details.get("cause"), str):
            try:
                cause = json.loads(details["cause"])
            except ValueError:
                cause = None
            if isinstance(cause, dict):
                cause.pop("stackTrace", None)
                details["cause"] = json.dumps(cause)
        event[key] = details
    return event


def record(name: str, world: LocalWorld, setup: dict[str, Any], **flags: bool) -> None:
    ep = world.endpoints
    for system, path, body in setup.get("admin", []):
        _admin(ep, system, path, body)
    arn = start_sync(ep, **flags)
    follow(ep, arn, deadline_s=240)
    events = aws_client(ep, "stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)[
        "events"
    ]
    (HERE / f"{name}.json").write_text(json.dumps([_trim(e) for e in events], indent=1) + "\n")
    print(f"{name}: {len(events)} events", file=sys.stderr)


def main() -> None:
    rows = generate_rows(GeneratorSettings(claims=1500, seed=5, malformed_share=0.01, duplicate_share=0.0))
    with tempfile.TemporaryDirectory() as state:
        world = LocalWorld(
            WorldOptions(
                state_dir=Path(state),
                claims=0,
                sync_overrides={"page_size": 500, "collections_max_rows": 100},
            )
        )
        ep = world.start()
        try:
            _admin(ep, "collaboratemd", "/config", {"running_polls": 2})
            requests.put(
                ep["collaboratemd"]["admin_url"] + "/rows",
                json=rows,
                verify=ep["collaboratemd"]["ca_cert"],
                timeout=60,
            ).raise_for_status()
            faults = [
                ("collaboratemd", "/faults", {"kind": "http_status", "status": 503, "count": 2, "on": "run"}),
                ("collaboratemd", "/faults", {"kind": "corrupt_zip", "count": 1}),
                ("salesforce", "/faults", {"kind": "unavailable", "on": "bulk_upload", "count": 2}),
            ]
            record("bulk_with_retries", world, {"admin": faults}, full=True)
            record("dry_run", world, {}, dry_run=True)
            record(
                "report_failed",
                world,
                {
                    "admin": [
                        (
                            "collaboratemd",
                            "/faults",
                            {"kind": "results_status", "status": "REPORT TIMED OUT", "count": 1},
                        )
                    ]
                },
            )
            record(
                "payors_gave_up",
                world,
                {"admin": [("salesforce", "/faults", {"kind": "unavailable", "on": "query", "count": 20})]},
            )
            sf = ep["salesforce"]
            requests.delete(sf["admin_url"] + "/faults", verify=sf["ca_cert"], timeout=60).raise_for_status()
        finally:
            world.stop()


if __name__ == "__main__":
    main()
