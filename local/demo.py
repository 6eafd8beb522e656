"""``make demo``: the main job end to end on the local world.

Starts ``claimsync local up`` (a separate process, as a newcomer would), runs a full sync of the
generated claims, changes 1 % of them in the CollaborateMD emulator, runs an incremental sync that
sends only those, prints both summaries and the story of one changed claim (``claimsync claim``),
writes the incremental run's page (``claimsync report``) to ``demo-run-page.html`` at the root of
the repository, stops the world, and names the page on its last line.
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

from claimsync.mapping_file import load_mapping
from claimsync.payors import PayorIndex
from claimsync.transform import claim_keys, find_superseded, transform_page
from local.collaboratemd_emulator.generator import mutate_rows
from local.console import ProgressPrinter, format_summary
from local.syncrun import run_sync

CLAIMS = 20_000
RUN_PAGE = Path(__file__).resolve().parents[1] / "demo-run-page.html"  # git-ignored


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
    world = ["--local", "--state-dir", str(state_dir)]
    print(f"starting the local world with {CLAIMS:,} generated claims ...", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(
        [claimsync, "local", "up", "--claims", str(CLAIMS), "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    ok = page_written = False
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

        if expected:
            claim = sorted(expected)[0]
            print(f"\n== what happened to claim {claim}? (claimsync claim {claim} --local) ==", flush=True)
            story = subprocess.run(
                [claimsync, "claim", claim, *world, "--runs", "2"],
                capture_output=True,
                text=True,
                check=False,
            )
            print((story.stdout or story.stderr).rstrip(), flush=True)
            ok = ok and story.returncode == 0
        page = subprocess.run(
            [claimsync, "report", second["run_id"], *world, "--html", str(RUN_PAGE)],
            capture_output=True,
            text=True,
            check=False,
        )
        page_written = page.returncode == 0
        if not page_written:
            print(page.stderr.rstrip(), file=sys.stderr)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(state_dir, ignore_errors=True)
    if page_written:
        print(f"\nthe incremental run's page (open it in a browser): {RUN_PAGE}", flush=True)
    return 0 if ok and page_written else 1


if __name__ == "__main__":
    sys.exit(main())
