"""``make demo``: the main job end to end on the local world.

Starts ``claimsync local up`` (a separate process, as a newcomer would), runs a full sync of the
generated claims, changes 1 % of them in the CollaborateMD emulator, runs an incremental sync that
sends only those, prints both summaries, and stops the world.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from claimsync.mapping import load_mapping
from claimsync.transform import PayorIndex, claim_keys, find_superseded, transform_page
from local.collaboratemd_emulator.generator import mutate_rows
from local.console import ProgressPrinter, format_summary
from local.syncrun import run_sync

CLAIMS = 20_000


def valid_claim_ids(rows: list[dict[str, str]]) -> set[str]:
    """The claims the transformation rules accept (a changed but malformed claim is rejected, not sent)."""
    numbered = list(enumerate(rows, start=1))
    mapping = load_mapping()
    superseded = find_superseded(claim_keys(numbered, mapping), mapping.key_rule.length or 50)
    return {
        r.claim_number
        for r in transform_page(numbered, superseded, mapping, PayorIndex.from_records([])).records
    }


def main() -> int:
    state_dir = Path(tempfile.mkdtemp(prefix="claimsync-demo-"))
    claimsync = shutil.which("claimsync", path=str(Path(sys.executable).parent)) or "claimsync"
    print(f"starting the local world with {CLAIMS:,} generated claims ...", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(
        [claimsync, "local", "up", "--claims", str(CLAIMS), "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            print("the local world did not start", file=sys.stderr)
            return 1
        endpoints = json.loads(line)
        print(f"ready in {time.monotonic() - started:.1f} s (endpoints: {state_dir / 'endpoints.json'})\n")

        print("== full sync ==", flush=True)
        first = run_sync(endpoints, on_progress=ProgressPrinter(sys.stdout))
        print(format_summary(first), "\n", flush=True)

        cmd = endpoints["collaboratemd"]
        rows = requests.get(f"{cmd['admin_url']}/rows", verify=cmd["ca_cert"], timeout=60).json()["rows"]
        changed_rows, changed = mutate_rows(rows, share=0.01, seed=2024)
        requests.put(
            f"{cmd['admin_url']}/rows", json=changed_rows, verify=cmd["ca_cert"], timeout=60
        ).raise_for_status()
        print(f"== changed {len(changed)} claims in CollaborateMD; incremental sync ==", flush=True)
        second = run_sync(endpoints, on_progress=ProgressPrinter(sys.stdout))
        print(format_summary(second), flush=True)
        expected = valid_claim_ids(changed_rows) & set(changed)
        ok = first["status"] in ("SUCCEEDED", "PARTIAL") and second["sent"] == len(expected)
        verdict = "only the changed ones were sent" if ok else "UNEXPECTED"
        print(
            f"\nincremental run: {len(changed)} claims changed, {len(expected)} of them valid; "
            f"sent {second['sent']} of {second['rows_in']}: {verdict}"
        )
        return 0 if ok else 1
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
