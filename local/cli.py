"""The ``claimsync`` command line (installed into .venv by ``make setup``).

Local-world verbs live under ``claimsync local ...``; see docs/local-world.md. Heavy imports happen
inside each command so ``claimsync --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path


def _cmd_local_up(args: argparse.Namespace) -> int:
    from local.world import LocalWorld, WorldOptions, state_dir_from

    world = LocalWorld(
        WorldOptions(
            state_dir=state_dir_from(args.state_dir),
            claims=args.claims,
            seed=args.seed,
            report_file=Path(args.report_file) if args.report_file else None,
        )
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        endpoints = world.start()
        print(json.dumps(endpoints), flush=True)
        stop.wait()
    finally:
        world.stop()
    print("local world stopped", file=sys.stderr)
    return 0


def _cmd_local_set_report(args: argparse.Namespace) -> int:
    import requests

    from local.collaboratemd_emulator.reportfile import ReportFileError, load_report_file
    from local.world import read_endpoints, state_dir_from

    endpoints = read_endpoints(state_dir_from(args.state_dir))
    try:
        rows = load_report_file(Path(args.report_file))
    except ReportFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cmd = endpoints["collaboratemd"]
    resp = requests.put(f"{cmd['admin_url']}/rows", json=rows, verify=cmd["ca_cert"], timeout=60)
    resp.raise_for_status()
    print(f"the CollaborateMD emulator now serves {len(rows)} rows")
    return 0


def _cmd_local_sync(args: argparse.Namespace) -> int:
    from local.syncrun import format_summary, run_sync
    from local.world import read_endpoints, state_dir_from

    endpoints = read_endpoints(state_dir_from(args.state_dir))
    if "aws" not in endpoints:
        print("error: this local world was started without local AWS", file=sys.stderr)
        return 2

    def progress(step: str) -> None:
        print(f"  .. {step}", file=sys.stderr if args.json else sys.stdout, flush=True)

    summary = run_sync(endpoints, full=args.full, dry_run=args.dry_run, on_progress=progress)
    print(format_summary(summary), file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    return 0 if summary["status"] != "FAILED" else 1


def _cmd_preview(args: argparse.Namespace) -> int:
    from claimsync.mapping import MappingError
    from local.collaboratemd_emulator.reportfile import ReportFileError
    from local.preview import format_preview, preview

    try:
        result = preview(
            Path(args.report_file),
            payor_mappings=Path(args.payor_mappings) if args.payor_mappings else None,
            mapping_file=Path(args.mapping) if args.mapping else None,
        )
    except (ReportFileError, MappingError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else format_preview(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="claimsync", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)

    local = verbs.add_parser("local", help="the local world: emulators of CollaborateMD and Salesforce")
    local_verbs = local.add_subparsers(dest="local_verb", required=True)

    up = local_verbs.add_parser("up", help="start the local world; prints one JSON line when ready")
    up.add_argument("--claims", type=int, help="serve N generated claims (default: keep what was served)")
    up.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    up.add_argument("--report-file", help="serve the rows of a JSON or CSV report file instead")
    up.add_argument("--state-dir", help="state directory (default .local-world or $CLAIMSYNC_STATE_DIR)")
    up.set_defaults(func=_cmd_local_up)

    set_report = local_verbs.add_parser("set-report", help="replace the rows the running emulator serves")
    set_report.add_argument("--report-file", required=True, help="a JSON list of row objects or a CSV")
    set_report.add_argument("--state-dir")
    set_report.set_defaults(func=_cmd_local_set_report)

    sync = local_verbs.add_parser("sync", help="run the claim sync once on the running local world")
    sync.add_argument("--full", action="store_true", help="resend every valid claim (full_sync)")
    sync.add_argument("--dry-run", action="store_true", help="transform and report only; write nothing")
    sync.add_argument("--json", action="store_true", help="print the summary as one JSON line last")
    sync.add_argument("--state-dir")
    sync.set_defaults(func=_cmd_local_sync)

    pre = verbs.add_parser("preview", help="offline: what a sync would send and reject for a report file")
    pre.add_argument("--report-file", required=True, help="a JSON list of row objects or a CSV")
    pre.add_argument("--payor-mappings", help="JSON list of Payor_Mapping__c records (default: none)")
    pre.add_argument("--mapping", help="column-to-field mapping file (default: the packaged one)")
    pre.add_argument("--json", action="store_true")
    pre.set_defaults(func=_cmd_preview)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from local.world import WorldNotRunning

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except WorldNotRunning as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
