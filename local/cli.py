"""The ``claimsync`` command line (installed into .venv by ``make setup``).

Each verb is a small function ``_cmd_*`` registered in ``build_parser``; to add one, add its
function and a ``verbs.add_parser`` block. Heavy imports happen inside the functions so
``claimsync --help`` stays instant. Every foreseen error is a ``CliError`` (local/exits.py): one line
on stderr and a documented exit code; ``CLAIMSYNC_DEBUG=1`` shows tracebacks of unexpected ones.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from local.exits import CliError, ExitCode, exit_code_table

DESCRIPTION = """\
Keep Salesforce Claim__c in step with CollaborateMD claims.

Operator verbs (sync, runs, failures, unlock, claim, report) work on the deployed stack in AWS, or
with --local on the local world that `claimsync local up` runs on this machine. `claimsync preview`
needs neither.
"""
EPILOG = f"""\
exit codes:
{exit_code_table()}

Errors are one line on stderr. docs/runbook.md has the operator's guide, docs/local-world.md the
local world's.
"""
STATE_DIR_HELP = (
    "state directory of the local world (default: $CLAIMSYNC_STATE_DIR, else .local-world in the repository)"
)
STOP_GRACE_S = 15.0  # `local up`: after a stop signal, exit even if a server does not stop in time
# SyncSettings fields `local up` takes from CLAIMSYNC_* variables (the resource names are its own).
LOCAL_TUNABLE = (
    "page_size",
    "max_pages",
    "report_poll_seconds",
    "report_poll_max_seconds",
    "report_deadline_seconds",
    "upload_poll_seconds",
    "upload_poll_max_seconds",
    "bulk_records_per_second",
    "upload_deadline_seconds",
    "collections_max_rows",
    "transient_retry_rounds",
    "mapping_path",
)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the layout of descriptions and epilogs; appends each option's default to its help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not action.option_strings or action.nargs == 0:
            return text
        if action.default is None or action.default is argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (``error: ... (see: PROG --help)``) and exit code 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise CliError(ExitCode.USAGE, f"{message} (see: {self.prog} --help)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("claimsync")
    except PackageNotFoundError:  # running from a checkout without `make setup`
        return "unknown"


# ---- argument types ---------------------------------------------------------------------------------
def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535; 0 picks a free one)")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def run_id_arg(text: str) -> str:
    if not text or len(text) > 80 or any(c in text for c in "/: \t"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a run id (an execution name)")
    return text


def claim_id_arg(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("a claim id is needed (the ClaimID of the CollaborateMD report)")
    return text


# ---- local world ------------------------------------------------------------------------------------
def _local_overrides(env: dict[str, str]) -> dict[str, Any]:
    """SyncSettings overrides for the local world from CLAIMSYNC_* variables, read once here."""
    from dataclasses import fields

    from claimsync.config import SyncSettings

    types = {f.name: f.type for f in fields(SyncSettings)}
    overrides: dict[str, Any] = {}
    for name in LOCAL_TUNABLE:
        raw = env.get(f"CLAIMSYNC_{name.upper()}")
        if raw is None:
            continue
        kind = types[name] if isinstance(types[name], str) else getattr(types[name], "__name__", "str")
        try:
            overrides[name] = int(raw) if kind == "int" else raw
        except ValueError:
            raise CliError(ExitCode.USAGE, f"CLAIMSYNC_{name.upper()} must be a whole number") from None
    return overrides


def _cmd_local_up(args: argparse.Namespace) -> int:
    from claimsync.config import ConfigError
    from local.aws import print_lambda_logs
    from local.statedir import state_dir_from
    from local.syncworld import local_settings
    from local.world import LocalWorld, WorldOptions

    overrides = _local_overrides(dict(os.environ))
    try:
        local_settings("", **overrides)  # validate before anything starts
    except (ConfigError, TypeError) as exc:
        raise CliError(ExitCode.USAGE, f"local world settings: {exc}") from None
    print_lambda_logs(sys.stderr)  # Lambda log and REPORT lines; stdout keeps the endpoints line
    state_dir = state_dir_from(args.state_dir)
    world = LocalWorld(
        WorldOptions(
            state_dir=state_dir,
            claims=args.claims,
            seed=args.seed,
            report_file=Path(args.report_file) if args.report_file else None,
            sync_overrides=overrides,
        )
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():  # a second signal: stop at once
            os._exit(128 + signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    started = False
    try:
        endpoints = world.start()
        started = True
        if not stop.is_set():
            print(json.dumps(endpoints), flush=True)
            print(f"local world ready on {state_dir} — Ctrl-C to stop", file=sys.stderr, flush=True)
        # A timed wait: a signal delivered to another thread must not leave this one blocked forever.
        while not stop.wait(0.25):
            pass
    finally:
        _stop_within(world.stop, STOP_GRACE_S)
    if started:
        print("local world stopped", file=sys.stderr, flush=True)
    return ExitCode.OK


def _stop_within(stop: Any, grace_s: float) -> None:
    """Run ``stop``; if it has not returned after ``grace_s``, leave anyway (the OS frees the rest)."""

    def give_up() -> None:
        _say("stopping took too long; exiting")
        os._exit(1)

    timer = threading.Timer(grace_s, give_up)
    timer.daemon = True
    timer.start()
    try:
        stop()
    finally:
        timer.cancel()


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cmd_local_set_report(args: argparse.Namespace) -> int:
    import requests

    from local.collaboratemd_emulator.reportfile import load_report_file
    from local.statedir import read_endpoints, state_dir_from

    endpoints = read_endpoints(state_dir_from(args.state_dir))
    rows = load_report_file(Path(args.report_file))
    cmd = endpoints["collaboratemd"]
    resp = requests.put(f"{cmd['admin_url']}/rows", json=rows, verify=cmd["ca_cert"], timeout=60)
    if resp.status_code >= 400:
        raise CliError(
            ExitCode.INPUT, f"the CollaborateMD emulator refused the rows (HTTP {resp.status_code})"
        )
    print(f"the CollaborateMD emulator now serves {len(rows)} rows")
    return ExitCode.OK


def _cmd_local_api(args: argparse.Namespace) -> int:
    from local.api_server import serve
    from local.statedir import read_endpoints, state_dir_from

    endpoints = read_endpoints(state_dir_from(args.state_dir))
    if args.port:
        _check_port_free(args.port)  # werkzeug would print its own two lines and exit 1
    return int(serve(endpoints, args.port) or 0)


def _check_port_free(port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CliError(
                    ExitCode.BUSY, f"port {port} is in use (choose another with --port, or --port 0)"
                ) from None
            if exc.errno == errno.EACCES:
                raise CliError(ExitCode.BUSY, f"not allowed to listen on port {port}") from None
            raise


# ---- operator verbs, on AWS or the local world ------------------------------------------------------
def _target(args: argparse.Namespace) -> Any:
    from local.statedir import state_dir_from
    from local.targets import aws_target, local_target

    if args.local:
        return local_target(state_dir_from(args.state_dir))
    if args.state_dir:
        raise CliError(ExitCode.USAGE, "--state-dir goes with --local (see: claimsync sync --help)")
    return aws_target(args.stack, args.region, os.environ)


def _cmd_sync(args: argparse.Namespace) -> int:
    from claimsync.operator import execution
    from claimsync.operator.lock import lock_outcome
    from local import console

    reattach = bool(args.follow)
    if reattach and (args.full or args.dry_run):
        raise CliError(
            ExitCode.USAGE, "--follow RUN_ID follows a started run: it takes no --full or --dry-run"
        )
    following = args.follow is not None
    target = _target(args)
    sfn = target.client("stepfunctions")
    out = sys.stderr if args.json else sys.stdout
    counters_before = _local_counters(target) if target.local and not reattach else None
    started_clock = time.monotonic()
    if reattach:
        run_id = args.follow
        arn = execution.execution_arn(target.deployment, run_id)
        try:
            sfn.describe_execution(executionArn=arn)
        except sfn.exceptions.ExecutionDoesNotExist:
            raise CliError(
                ExitCode.NOT_FOUND, f"no run {run_id} in {target.where} (see: claimsync runs)"
            ) from None
        print(f"run {run_id}: following in {target.where}", file=out, flush=True)
    else:
        started = execution.start_sync(sfn, target.deployment, full_sync=args.full, dry_run=args.dry_run)
        run_id, arn = started.run_id, started.execution_arn
        how = "dry run" if args.dry_run else "full sync" if args.full else "incremental"
        if not following:
            lock = lock_outcome(sfn, arn, poll_s=target.poll_s)  # refused at once, or running
            if args.json:
                print(
                    json.dumps({"run_id": run_id, "execution_arn": arn, "input": started.input, "lock": lock})
                )
            else:
                print(console.started_line(run_id, how, target.where))
                if lock != "ALREADY_RUNNING":
                    print(f"follow it with: {target.follow_command(run_id)}")
            if lock == "ALREADY_RUNNING":
                raise _refused(target, {})
            return ExitCode.OK

    timeout = args.timeout or target.default_timeout_s
    try:  # from the started line on, so a Ctrl-C the moment it is printed still names the run
        if not reattach:
            print(console.started_line(run_id, how, target.where), file=out, flush=True)
        _follow(target, arn, console.ProgressPrinter(out), timeout)
    except execution.FollowDeadline:
        raise CliError(
            ExitCode.DEADLINE,
            f"stopped waiting after {timeout:g} s; run {run_id} goes on in {target.where}"
            f" — follow it again with: {target.follow_command(run_id)}",
        ) from None
    except KeyboardInterrupt:
        raise CliError(
            ExitCode.INTERRUPTED,
            f"interrupted; run {run_id} goes on in {target.where}"
            f" — follow it again with: {target.follow_command(run_id)}",
        ) from None
    if target.local:
        from local.syncrun import run_summary

        wall_s = None if reattach else time.monotonic() - started_clock
        summary = run_summary(target.endpoints, arn, counters_before, wall_s)
    else:
        summary = execution.run_outcome(sfn, target.client("s3"), target.deployment, arn)
        summary.update(execution.history_stats(execution.history_since(sfn, arn)))
    refused = _refused(target, summary) if summary["status"] == "ALREADY_RUNNING" else None
    print(console.format_summary(summary), file=out, flush=True)
    if args.json:
        print(json.dumps(summary, sort_keys=True, default=str), flush=True)
    if summary["status"] == "FAILED":
        raise CliError(ExitCode.RUN_FAILED, console.failure_line(summary))
    if refused is not None:
        raise refused
    return ExitCode.OK


def _refused(target: Any, summary: dict[str, Any]) -> CliError:
    """A refused run's error, naming the lock's holder and expiry (read after the run ended); the
    summary gets them too (``lock_holder``, ``lock_until``)."""
    from claimsync.operator.lock import refusal_line
    from claimsync.runlock import read_lock

    lock = read_lock(target.client("dynamodb"), target.deployment.table)
    if lock is not None:
        summary.update(lock_holder=lock.owner, lock_until=lock.lock_until_iso)
    return CliError(ExitCode.ALREADY_RUNNING, refusal_line(lock))


def _local_counters(target: Any) -> dict[str, Any]:
    from local.syncrun import salesforce_counters

    return salesforce_counters(target.endpoints)


def _follow(target: Any, arn: str, printer: Any, timeout_s: float) -> None:
    from claimsync.operator.execution import follow_execution
    from claimsync.progress.tracker import ProgressTracker
    from local.syncrun import definition_for

    sfn = target.client("stepfunctions")
    tracker = ProgressTracker(definition_for(sfn, arn))
    for event in follow_execution(sfn, arn, deadline_s=timeout_s, poll_s=target.poll_s):
        for update in tracker.feed(event):
            printer(update)


def _cmd_local_sync(args: argparse.Namespace) -> int:
    """``local sync``: ``sync --local --follow`` (kept for the quick start and scripts)."""
    args.local, args.follow, args.stack, args.region = True, "", None, None
    return _cmd_sync(args)


def _cmd_runs(args: argparse.Namespace) -> int:
    from claimsync.operator.runs import recent_runs
    from local.console import format_runs

    target = _target(args)
    runs = recent_runs(
        target.client("dynamodb"),
        target.deployment,
        limit=args.limit,
        stepfunctions=target.client("stepfunctions"),
    )
    if args.json:
        for run in runs:
            print(json.dumps(run.as_dict()))
    else:
        print(format_runs(runs))
    return ExitCode.OK


def _cmd_failures(args: argparse.Namespace) -> int:
    from claimsync.operator.runs import run_failures
    from local.console import format_failures

    target = _target(args)
    print(format_failures(run_failures(target.client("s3"), target.deployment, args.run_id)))
    return ExitCode.OK


def _cmd_unlock(args: argparse.Namespace) -> int:
    from claimsync.operator.lock import UnlockRefused, unlock

    target = _target(args)
    try:
        print(unlock(target.client("stepfunctions"), target.client("dynamodb"), target.deployment))
    except UnlockRefused as exc:
        raise CliError(ExitCode.LOCK_HELD, str(exc)) from None
    return ExitCode.OK


def _cmd_claim(args: argparse.Namespace) -> int:
    import requests
    from botocore.exceptions import BotoCoreError, ClientError

    from claimsync.mapping_file import load_mapping
    from claimsync.operator.claim import claim_story, salesforce_claim
    from claimsync.operator.deployment import OperatorError
    from claimsync.salesforce.errors import SalesforceError
    from local.console import format_claim_story

    target = _target(args)
    story = claim_story(
        target.client("s3"),
        target.client("dynamodb"),
        target.deployment,
        args.claim_id,
        runs=args.runs,
        stepfunctions=target.client("stepfunctions"),
    )
    mapping = load_mapping()
    record, problem = None, None
    try:
        record = salesforce_claim(target.salesforce(), mapping, args.claim_id)
    except (SalesforceError, OperatorError) as exc:
        problem = str(exc)  # codes and operations only, never a value (claimsync.salesforce)
    except ClientError as exc:  # the Salesforce secret: access denied, not found
        problem = f"the Salesforce secret: {exc.response.get('Error', {}).get('Code', 'AWS error')}"
    except (requests.RequestException, BotoCoreError) as exc:
        problem = f"no answer ({type(exc).__name__})"
    if args.json:
        print(
            json.dumps(
                {
                    "claim": args.claim_id.strip(),
                    "salesforce": record.as_dict() if record else None,
                    **({"salesforce_error": problem} if problem else {}),
                    "runs": [entry.as_dict() for entry in story],
                }
            )
        )
    else:
        fields = (
            mapping.object_name,
            mapping.run_field.field,
            mapping.payor.status_field,
            mapping.payor.lookup_field,
        )
        print(format_claim_story(args.claim_id.strip(), story, record, problem, fields))
    return ExitCode.OK


def _cmd_report(args: argparse.Namespace) -> int:
    try:
        from local.runpage import write_run_page
    except ImportError as exc:  # matplotlib: a development dependency, installed by `make setup`
        raise CliError(ExitCode.INTERNAL, f"{exc.name} is not installed (make setup installs it)") from None

    target = _target(args)
    path = Path(args.html) if args.html else Path(f"claimsync-run-{args.run_id}.html")
    try:
        write_run_page(
            target.client,
            target.deployment,
            args.run_id,
            path,
            with_claims=args.with_claims,
            where=target.where,
        )
    except OSError as exc:
        raise CliError(ExitCode.INPUT, f"{path}: cannot write the page ({exc.strerror})") from None
    phi = " — it holds claim-level rows (PHI): keep it off tickets and email" if args.with_claims else ""
    print(f"run page of {args.run_id}: {path.resolve()}{phi}")
    return ExitCode.OK


def _cmd_preview(args: argparse.Namespace) -> int:
    from claimsync.report import ReportFormatError
    from local.preview import format_preview, preview

    try:
        result = preview(
            Path(args.report_file),
            payor_mappings=Path(args.payor_mappings) if args.payor_mappings else None,
            mapping_file=Path(args.mapping) if args.mapping else None,
        )
    except OSError as exc:
        raise CliError(ExitCode.INPUT, f"{exc.filename}: cannot read the file ({exc.strerror})") from None
    except ReportFormatError as exc:
        raise CliError(ExitCode.INPUT, f"{args.report_file}: {exc}") from None
    except ValueError as exc:  # MappingError, a payor mappings file that is not JSON
        raise CliError(ExitCode.INPUT, str(exc)) from None
    print(json.dumps(result) if args.json else format_preview(result))
    return ExitCode.OK


def _cmd_salesforce_certificate(args: argparse.Namespace) -> int:
    import boto3

    from local.connected_app import CertificateError, build_certificate, certificate_pem, describe

    session = boto3.session.Session(region_name=args.region) if args.region else boto3.session.Session()
    try:
        certificate = build_certificate(
            session.client("kms"), args.key_id, common_name=args.common_name, days=args.days
        )
    except CertificateError as exc:
        raise CliError(ExitCode.AWS, str(exc)) from None
    pem = certificate_pem(certificate)
    if args.out:
        Path(args.out).write_bytes(pem)
    else:
        sys.stdout.write(pem.decode("ascii"))
    print(f"connected-app certificate for {args.key_id}: {describe(certificate)}", file=sys.stderr)
    return ExitCode.OK


# ---- the parser -------------------------------------------------------------------------------------
def _add_world_options(verb: argparse.ArgumentParser) -> None:
    verb.add_argument("--local", action="store_true", help="run against the local world instead of AWS")
    verb.add_argument("--state-dir", help=f"with --local: the {STATE_DIR_HELP}")
    verb.add_argument(
        "--stack", default="Claimsync-ClaimSync", help="AWS: the claim-sync stack (CloudFormation) name"
    )
    verb.add_argument(
        "--region",
        help="AWS: the region (default: $AWS_REGION or $AWS_DEFAULT_REGION, else the AWS CLI profile's)",
    )


def _add_sync_options(verb: argparse.ArgumentParser) -> None:
    verb.add_argument(
        "--full", action="store_true", help="resend every valid claim, not only new and changed ones"
    )
    verb.add_argument(
        "--dry-run",
        action="store_true",
        help="transform and compare only; report what would be sent, write nothing",
    )
    verb.add_argument(
        "--json",
        action="store_true",
        help="print the summary as one JSON object on the last line of stdout (progress goes to stderr)",
    )
    verb.add_argument(
        "--timeout",
        type=seconds,
        metavar="SECONDS",
        help="stop following after this long; the run goes on (default: 600 locally, 14700 on AWS)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="claimsync", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"claimsync {_version()}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    sync = verbs.add_parser(
        "sync",
        help="start a run of the claim sync (and follow it with --follow)",
        description="Start one run of the claim sync, on AWS or (--local) the local world.",
        epilog=EPILOG,
    )
    _add_world_options(sync)
    _add_sync_options(sync)
    sync.add_argument(
        "--follow",
        nargs="?",
        const="",
        type=lambda text: run_id_arg(text) if text else text,
        metavar="RUN_ID",
        help="show live progress until the run ends; with a RUN_ID, follow that run (already started) "
        "instead of starting one (default: start the run and return)",
    )
    sync.set_defaults(func=_cmd_sync)

    runs = verbs.add_parser(
        "runs",
        help="list recent runs: status, start, finish, duration, counts",
        description="List the recent runs, newest first, with the runs still going.",
        epilog=EPILOG,
    )
    _add_world_options(runs)
    runs.add_argument("--limit", type=positive_int, default=20, help="show at most this many runs")
    runs.add_argument("--json", action="store_true", help="one JSON object per run instead of the table")
    runs.set_defaults(func=_cmd_runs)

    failures = verbs.add_parser(
        "failures",
        help="print a run's failures.csv and rejects.csv",
        description="Print the rows of a run that Salesforce refused (failures.csv) and the rows the "
        "transformation rejected (rejects.csv). They hold claim ids: keep the output off tickets.",
        epilog=EPILOG,
    )
    _add_world_options(failures)
    failures.add_argument("run_id", type=run_id_arg, metavar="RUN_ID", help="the run (see: claimsync runs)")
    failures.set_defaults(func=_cmd_failures)

    unlock = verbs.add_parser(
        "unlock",
        help="remove the lock of a run that has ended; says whose it was",
        description="Remove the claim-sync lock, only if the run holding it has ended (stopped, timed out, "
        "failed), and say whose lock it was. Refused while that run is still running.",
        epilog=EPILOG,
    )
    _add_world_options(unlock)
    unlock.set_defaults(func=_cmd_unlock)

    claim = verbs.add_parser(
        "claim",
        help="what happened to one claim in the last runs, and its Salesforce record now",
        description="For each of the last runs: was the claim in the report; rejected (reason, column), "
        "unchanged, or sent (new or changed) and did Salesforce take it (or its error code). Then the "
        "claim's Claim__c record now: its id, the run that last wrote it, its payor mapping status. "
        "Reads the runs' claim indexes, the run records and Salesforce. The output holds claim data: "
        "keep it off tickets.",
        epilog=EPILOG,
    )
    _add_world_options(claim)
    claim.add_argument(
        "claim_id", type=claim_id_arg, metavar="CLAIM_ID", help="the claim's ClaimID, as in the report"
    )
    claim.add_argument("--runs", type=positive_int, default=5, help="look at this many recent runs")
    claim.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    claim.set_defaults(func=_cmd_claim)

    report = verbs.add_parser(
        "report",
        help="write a run's page: one self-contained HTML file",
        description="Write one HTML file about a run that loads nothing from anywhere: the accounting, "
        "a timeline of its phases, rejects by reason and column, unmapped payers, Salesforce errors and "
        "API use, and the last 30 runs. Counts and codes only, unless --with-claims.",
        epilog=EPILOG,
    )
    _add_world_options(report)
    report.add_argument("run_id", type=run_id_arg, metavar="RUN_ID", help="the run (see: claimsync runs)")
    report.add_argument(
        "--html",
        metavar="FILE",
        help="where to write the page (default: claimsync-run-RUN_ID.html in the current directory)",
    )
    report.add_argument(
        "--with-claims",
        action="store_true",
        help="add the claim-level rows (rejected, sent, failed claims): the page then holds PHI, says so "
        "at its top, and is written readable by you only",
    )
    report.set_defaults(func=_cmd_report)

    pre = verbs.add_parser(
        "preview",
        help="offline: what a sync would send and reject for a report file, and why",
        description="Run the transformation rules on a report file, with no AWS and no Salesforce. "
        "docs/collaboratemd-report.md describes the columns and values.",
        epilog=EPILOG,
    )
    pre.add_argument(
        "--report-file", required=True, help="a CSV with a header row, or a JSON list of row objects"
    )
    pre.add_argument(
        "--payor-mappings",
        help="a JSON list of Payor_Mapping__c records (default: none, every payer shows as unmapped)",
    )
    pre.add_argument("--mapping", help="a column-to-field mapping file (default: the packaged mapping)")
    pre.add_argument("--json", action="store_true", help="print the result as one JSON object")
    pre.set_defaults(func=_cmd_preview)

    cert = verbs.add_parser(
        "salesforce-certificate",
        help="the connected app's certificate for the JWT bearer grant, signed by the KMS key",
        description="Build an X.509 certificate of the KMS signing key's public half, signed by that key "
        "through KMS, to upload to the Salesforce connected app (docs/runbook.md, 1.4). Needs "
        "kms:GetPublicKey and kms:Sign on the key.",
        epilog=EPILOG,
    )
    cert.add_argument("--key-id", default="alias/claimsync-salesforce-jwt", help="KMS key id, ARN or alias")
    cert.add_argument("--region", help="AWS region (default: the AWS CLI configuration)")
    cert.add_argument("--days", type=positive_int, default=730, help="validity in days (default 730)")
    cert.add_argument("--common-name", default="claimsync JWT bearer", help="the certificate's CN")
    cert.add_argument("--out", help="write the PEM here (default: standard output)")
    cert.set_defaults(func=_cmd_salesforce_certificate)

    local = verbs.add_parser(
        "local",
        help="the local world: emulators of CollaborateMD and Salesforce, and local AWS",
        description="Run claimsync on this machine against emulators (see docs/local-world.md).",
        epilog=EPILOG,
    )
    local_verbs = local.add_subparsers(dest="local_verb", required=True, metavar="COMMAND")

    up = local_verbs.add_parser(
        "up",
        help="start the local world; prints one JSON line with every endpoint when ready",
        description="Start the local world and run until Ctrl-C (SIGINT) or SIGTERM. Prints the endpoints "
        "as one JSON line on stdout and a ready line on stderr. Settings of the sync can be tuned with the "
        "variables the Lambdas read, e.g. CLAIMSYNC_PAGE_SIZE=100 or CLAIMSYNC_REPORT_DEADLINE_SECONDS=60.",
        epilog=EPILOG,
    )
    up.add_argument(
        "--claims",
        type=non_negative_int,
        help="serve N generated claims (default: what this state directory served last, else 2000)",
    )
    up.add_argument("--seed", type=int, default=7, help="seed of the claim generator")
    up.add_argument(
        "--report-file",
        help="serve the rows of this CSV or JSON report file instead of generated claims (default: none)",
    )
    up.add_argument("--state-dir", help=STATE_DIR_HELP)
    up.set_defaults(func=_cmd_local_up)

    lsync = local_verbs.add_parser(
        "sync",
        help="run the claim sync once on the local world and follow it (= sync --local --follow)",
        description="Start one run on the local world, show its progress and its summary.",
        epilog=EPILOG,
    )
    _add_sync_options(lsync)
    lsync.add_argument("--state-dir", help=STATE_DIR_HELP)
    lsync.set_defaults(func=_cmd_local_sync)

    set_report = local_verbs.add_parser(
        "set-report",
        help="replace the rows the local CollaborateMD emulator serves",
        description="Replace the rows the running CollaborateMD emulator serves.",
        epilog=EPILOG,
    )
    set_report.add_argument(
        "--report-file", required=True, help="a CSV with a header row, or a JSON list of row objects"
    )
    set_report.add_argument("--state-dir", help=STATE_DIR_HELP)
    set_report.set_defaults(func=_cmd_local_set_report)

    api = local_verbs.add_parser(
        "api",
        help="serve the CRM API on localhost against the local Salesforce",
        description="Serve the CRM API handler on 127.0.0.1 until Ctrl-C (docs/crm-api.md).",
        epilog=EPILOG,
    )
    api.add_argument("--port", type=port_number, default=8080, help="port to listen on (0: any free port)")
    api.add_argument("--state-dir", help=STATE_DIR_HELP)
    api.set_defaults(func=_cmd_local_api)
    return parser


# ---- errors -----------------------------------------------------------------------------------------
_AWS_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "AuthFailure",
    }
)


def _classify(exc: BaseException, local: bool, state_dir: str | None) -> CliError | None:
    """A foreseeable exception as the one line and exit code the operator gets; None: a bug."""
    import requests
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )

    from claimsync.mapping import MappingError
    from claimsync.operator.deployment import OperatorError
    from local.collaboratemd_emulator.reportfile import ReportFileError
    from local.emulator_process import EmulatorFailed
    from local.statedir import WorldBusy, WorldNotRunning, state_dir_from

    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, EmulatorFailed):  # the emulator printed its own error just before
        return CliError(ExitCode.INTERNAL, str(exc))
    if isinstance(exc, WorldNotRunning):
        return CliError(ExitCode.NOT_FOUND, str(exc))
    if isinstance(exc, WorldBusy):
        return CliError(ExitCode.BUSY, str(exc))
    if isinstance(exc, ReportFileError | MappingError):
        return CliError(ExitCode.INPUT, str(exc))
    if isinstance(exc, OperatorError):
        return CliError(ExitCode.NOT_FOUND, str(exc))
    if isinstance(exc, KeyboardInterrupt):
        return CliError(ExitCode.INTERRUPTED, "interrupted")
    gone = (EndpointConnectionError, requests.ConnectionError)
    if local and isinstance(exc, gone):
        where = state_dir_from(state_dir)
        return CliError(
            ExitCode.NOT_FOUND,
            f"no local world is running for {where}: it does not answer (start it with: claimsync local up)",
        )
    if isinstance(exc, NoRegionError):
        return CliError(ExitCode.AWS, "no AWS region: pass --region, or set AWS_REGION")
    if isinstance(exc, NoCredentialsError):
        return CliError(ExitCode.AWS, "no AWS credentials: log in (aws sso login / aws configure)")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = f"{code}: {error.get('Message', '')}".strip(": ")
        if code in _AWS_AUTH_CODES:
            return CliError(ExitCode.AWS, f"AWS refused the request ({message})")
        if code.endswith(("NotFound", "DoesNotExist", "NotFoundException")) or code in (
            "NoSuchKey",
            "NoSuchBucket",
        ):
            return CliError(ExitCode.NOT_FOUND, f"not found ({message})")
        return CliError(ExitCode.AWS, f"AWS error ({message})")
    if isinstance(exc, BotoCoreError):
        return CliError(ExitCode.AWS, f"AWS: {exc}")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args: argparse.Namespace | None = None
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except SystemExit:
        raise
    except BrokenPipeError:  # the reader went away (`claimsync runs | head`): nothing left to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.OK)
    except BaseException as exc:
        local = args is not None and (getattr(args, "local", False) or getattr(args, "verb", "") == "local")
        error = _classify(exc, local, getattr(args, "state_dir", None))
        if error is None:
            if os.environ.get("CLAIMSYNC_DEBUG"):
                raise
            error = CliError(
                ExitCode.INTERNAL,
                f"unexpected {type(exc).__name__} (a bug; CLAIMSYNC_DEBUG=1 shows the traceback)",
            )
        print(f"error: {error.message}", file=sys.stderr, flush=True)
        return int(error.code)


if __name__ == "__main__":
    sys.exit(main())
