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
    from claimsync.report import ReportFormatError
    from local.preview import format_preview, preview

    try:
        result = preview(
            Path(args.report_file),
            payor_mappings=Path(args.payor_mappings) if args.payor_mappings else None,
            mapping_file=Path(args.mapping) if args.mapping else None,
        )
    except (ReportFormatError, MappingError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else format_preview(result))
    return 0


def _cmd_local_api(args: argparse.Namespace) -> int:
    from local.api_server import serve
    from local.world import read_endpoints, state_dir_from

    return int(serve(read_endpoints(state_dir_from(args.state_dir)), args.port) or 0)


def _deployment(args: argparse.Namespace) -> tuple[object, object]:
    import boto3

    from claimsync.operator import find_deployment

    session = boto3.session.Session(region_name=args.region) if args.region else boto3.session.Session()
    return session, find_deployment(session.client("cloudformation"), args.stack)


def _cmd_sync(args: argparse.Namespace) -> int:
    from claimsync.operator import start_sync

    session, deployment = _deployment(args)
    started = start_sync(
        session.client("stepfunctions"),  # type: ignore[attr-defined]
        deployment,  # type: ignore[arg-type]
        full_sync=args.full,
        dry_run=args.dry_run,
    )
    print(
        json.dumps({"run_id": started.run_id, "execution_arn": started.execution_arn, "input": started.input})
    )
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from claimsync.operator import recent_runs

    session, deployment = _deployment(args)
    runs = recent_runs(session.client("dynamodb"), deployment, limit=args.limit)  # type: ignore[attr-defined,arg-type]
    for run in runs:
        print(json.dumps(run.as_dict()) if args.json else _run_line(run.as_dict()))
    return 0


def _run_line(run: dict[str, object]) -> str:
    summary = run.get("summary") or {}
    counts = " ".join(f"{k}={summary[k]}" for k in ("rows_in", "sent", "rejected", "failed") if k in summary)  # type: ignore[operator]
    extra = f" {run.get('failed_state')}: {run.get('error')}" if run["status"] == "FAILED" else ""
    return f"{run['run_id']}  {run['status']:<10} {run['started_at']}  {counts}{extra}"


def _cmd_failures(args: argparse.Namespace) -> int:
    from claimsync.operator import OperatorError, run_failures

    session, deployment = _deployment(args)
    try:
        reports = run_failures(session.client("s3"), deployment, args.run_id)  # type: ignore[attr-defined,arg-type]
    except OperatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, text in reports.items():
        print(f"== {name} ==")
        print(text if text is not None else "(none)")
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

    api = local_verbs.add_parser(
        "api", help="serve the CRM API handler on localhost against the local Salesforce"
    )
    api.add_argument("--port", type=int, default=8080)
    api.add_argument("--state-dir")
    api.set_defaults(func=_cmd_local_api)

    for name, func, text in (
        ("sync", _cmd_sync, "start one run of the deployed claim sync"),
        ("runs", _cmd_runs, "list recent runs of the deployed claim sync"),
        ("failures", _cmd_failures, "print a run's failures.csv and rejects.csv"),
    ):
        verb = verbs.add_parser(name, help=text)
        verb.add_argument("--stack", default="Claimsync-ClaimSync", help="claim-sync stack name")
        verb.add_argument("--region", help="AWS region (default: the AWS CLI configuration)")
        verb.set_defaults(func=func)
        if name == "sync":
            verb.add_argument("--full", action="store_true", help="resend every valid claim")
            verb.add_argument(
                "--dry-run", action="store_true", help="report what would be sent; write nothing"
            )
        elif name == "runs":
            verb.add_argument("--limit", type=int, default=20)
            verb.add_argument("--json", action="store_true")
        else:
            verb.add_argument("run_id")

    pre = verbs.add_parser("preview", help="offline: what a sync would send and reject for a report file")
    pre.add_argument("--report-file", required=True, help="a JSON list of row objects or a CSV")
    pre.add_argument("--payor-mappings", help="JSON list of Payor_Mapping__c records (default: none)")
    pre.add_argument("--mapping", help="column-to-field mapping file (default: the packaged one)")
    pre.add_argument("--json", action="store_true")
    pre.set_defaults(func=_cmd_preview)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from claimsync.operator import OperatorError
    from local.world import WorldNotRunning

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (WorldNotRunning, OperatorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
