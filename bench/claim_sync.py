"""Claim-sync benchmark on the local world (``python -m bench.claim_sync [--claims 100000]``).

1. A full sync of N generated claims: wall time, Salesforce API calls (logins included), state
   transitions (against the budget of 3 per page + 40), bytes uploaded.
2. The same run again with every handler invocation serialised under ``tracemalloc``: the peak
   Python heap of each Lambda (the largest must stay well under its 512 MB+ memory size).
3. An incremental run with 1 % of the claims changed: API calls and bytes uploaded, as a share of
   the full run; and another 1 % forced through a Bulk job instead of sObject Collections (the
   measurement behind ``collections_max_rows``).
4. The original system's way on the same emulator in the same run: one REST upsert per claim, for
   the same 10,000 claims that claimsync syncs in a run of its own; ratios of API calls and time.

Prints one JSON document; figures are measurements of this machine, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import requests

from claimsync import layout
from claimsync.bulk_csv import BulkRows
from claimsync.mapping_file import load_mapping
from claimsync.payors import PayorIndex
from claimsync.sobject_json import SObjectEncoder  # the JSON form claimsync itself would send
from claimsync.steps.staged import StagedClaim
from claimsync.transform import claim_keys, find_superseded, transform_page
from local.collaboratemd_emulator.generator import GeneratorSettings, generate_rows, mutate_rows
from local.syncrun import run_sync, salesforce_counters
from local.syncworld import FUNCTION_PREFIX, _handler
from local.world import LocalWorld, WorldOptions, salesforce_gateway


def _gateway_bytes() -> tuple[int, int]:
    """(bytes on the wire, uncompressed body bytes) the handlers' Salesforce gateway has sent."""
    from handlers import _edge

    stats = _edge.salesforce().stats
    return stats.bytes_sent, stats.body_bytes


def _admin(endpoints: dict[str, Any], system: str, method: str, path: str, **kw: Any) -> Any:
    e = endpoints[system]
    resp = requests.request(method, e["admin_url"] + path, verify=e["ca_cert"], timeout=300, **kw)
    resp.raise_for_status()
    return resp.json() if resp.content else None


def _measured_run(world: LocalWorld, **kwargs: Any) -> dict[str, Any]:
    wire, body = _gateway_bytes()
    summary = run_sync(world.endpoints, deadline_s=1800, **kwargs)
    wire_after, body_after = _gateway_bytes()
    summary["bytes_uploaded"] = wire_after - wire
    summary["bytes_uncompressed"] = body_after - body
    return summary


def _pick(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("status", "rows_in", "sent", "unchanged", "rejected", "succeeded", "failed", "upload_mode",
            "page_count", "salesforce_api_calls", "state_transitions", "duration_s", "bytes_uploaded", "bytes_uncompressed")  # fmt: skip
    return {k: summary.get(k) for k in keys}


def memory_per_function(world: LocalWorld) -> dict[str, float]:
    """Re-register every handler wrapped to run alone under tracemalloc; one more full run."""
    lock = threading.Lock()
    peaks: dict[str, float] = {}

    def wrap(name: str, handler: Any) -> Any:
        def measured(event: Any, context: Any) -> Any:
            with lock:
                tracemalloc.start()
                try:
                    return handler(event, context)
                finally:
                    _, peak = tracemalloc.get_traced_memory()
                    tracemalloc.stop()
                    peaks[name] = max(peaks.get(name, 0.0), peak / 2**20)

        return measured

    for spec in layout.SYNC_FUNCTIONS:
        world.aws.register_function(FUNCTION_PREFIX + spec.name, wrap(spec.name, _handler(spec.handler)))
    try:
        run_sync(world.endpoints, full=True, deadline_s=1800)
    finally:
        for spec in layout.SYNC_FUNCTIONS:
            world.aws.register_function(FUNCTION_PREFIX + spec.name, _handler(spec.handler))
    return {name: round(mb, 1) for name, mb in sorted(peaks.items(), key=lambda kv: -kv[1])}


def original_way(world: LocalWorld, rows: list[dict[str, str]]) -> dict[str, Any]:
    """One REST upsert per claim, as the replaced system did (same normalised records)."""
    mapping = load_mapping()
    numbered = list(enumerate(rows, start=1))
    superseded = find_superseded(claim_keys(numbered, mapping), 50)
    gw = salesforce_gateway(world.endpoints)
    payors = PayorIndex.from_records(
        gw.query_all(
            "SELECT CMD_Payer_Id__c, CMD_Payer_Name__c, Claim_Payor__c, Active__c FROM Payor_Mapping__c"
        )
    )
    records = transform_page(numbered, superseded, mapping, payors).records
    before = salesforce_counters(world.endpoints)
    started = time.monotonic()
    gw = salesforce_gateway(world.endpoints)  # a fresh session, like the original's login
    encoder = SObjectEncoder(mapping, "original-way")
    lines = BulkRows(mapping, "original-way")
    for record in records:
        body = encoder.encode(StagedClaim.of(record, lines))
        claim = body.pop(mapping.external_id_field)
        gw._send(
            "PATCH",
            f"sobjects/{mapping.object_name}/{mapping.external_id_field}/{claim}",
            kind="upsert",
            json=body,
        )
    wall = time.monotonic() - started
    after = salesforce_counters(world.endpoints)
    calls = (after["api_requests"] + after["logins"]) - (before["api_requests"] + before["logins"])
    return {"claims": len(records), "salesforce_api_calls": calls, "duration_s": round(wall, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--baseline-claims", type=int, default=10_000)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"claims": args.claims}

    with tempfile.TemporaryDirectory(prefix="claimsync-bench-") as tmp:
        started = time.monotonic()
        world = LocalWorld(WorldOptions(state_dir=Path(tmp), claims=0))
        endpoints = world.start()
        result["local_up_s"] = round(time.monotonic() - started, 2)
        # The bytes uploaded are read from the handlers' Salesforce gateway in this process, so the
        # handlers run here (the local world runs them in worker processes, which report their
        # memory and duration in REPORT lines instead: local/aws/README.md).
        for spec in layout.SYNC_FUNCTIONS:
            world.aws.register_function(
                FUNCTION_PREFIX + spec.name,
                _handler(spec.handler),
                timeout_s=spec.timeout_s,
                memory_mb=spec.memory_mb,
            )
        try:
            rows = generate_rows(GeneratorSettings(claims=args.claims, seed=1))
            _admin(endpoints, "collaboratemd", "PUT", "/rows", json=rows)

            full = _measured_run(world, full=True)
            result["full"] = _pick(full)
            result["full"]["transition_budget"] = 3 * full["page_count"] + 40

            changed_rows, changed = mutate_rows(rows, share=0.01, seed=5)
            _admin(endpoints, "collaboratemd", "PUT", "/rows", json=changed_rows)
            incremental = _measured_run(world)
            result["incremental_1pct"] = _pick(incremental)
            result["incremental_1pct"]["changed_claims"] = len(changed)
            result["incremental_1pct"]["bytes_share_of_full"] = round(
                incremental["bytes_uploaded"] / max(full["bytes_uploaded"], 1), 4
            )
            result["incremental_1pct"]["uncompressed_bytes_share_of_full"] = round(
                incremental["bytes_uncompressed"] / max(full["bytes_uncompressed"], 1), 4
            )

            # The same 1 % delta forced through one Bulk job: the measurement behind collections_max_rows.
            from local.syncworld import apply_settings, local_settings

            ca = endpoints["salesforce"]["ca_cert"]
            changed_again, _ = mutate_rows(changed_rows, share=0.01, seed=6)
            _admin(endpoints, "collaboratemd", "PUT", "/rows", json=changed_again)
            apply_settings(world.aws, local_settings(ca, collections_max_rows=0))
            via_bulk = _measured_run(world)
            apply_settings(world.aws, local_settings(ca))
            result["incremental_1pct_via_bulk"] = _pick(via_bulk)

            result["lambda_peak_python_heap_mb"] = memory_per_function(world)

            # Baseline comparison on the same 10,000 claims: claimsync (full run) vs one call per claim.
            small = generate_rows(GeneratorSettings(claims=args.baseline_claims, seed=2))
            _admin(endpoints, "salesforce", "POST", "/reset")
            from local.world import seed_payor_mappings

            seed_payor_mappings(salesforce_gateway(endpoints))
            _admin(endpoints, "collaboratemd", "PUT", "/rows", json=small)
            ours = _measured_run(world, full=True)
            theirs = original_way(world, small)
            result["baseline_10k"] = {
                "claimsync": {k: ours[k] for k in ("sent", "salesforce_api_calls", "duration_s")},
                "one_rest_call_per_claim": theirs,
                "api_calls_ratio": round(
                    theirs["salesforce_api_calls"] / max(ours["salesforce_api_calls"], 1), 1
                ),
                "wall_time_ratio": round(theirs["duration_s"] / max(ours["duration_s"], 1e-9), 2),
            }
        finally:
            world.stop()

    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
