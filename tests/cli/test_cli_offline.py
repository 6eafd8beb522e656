"""Every error the command line foresees: one line on stderr, the documented exit code, no world needed.

(Errors that need a running world are in test_cli.py and test_cli_lifecycle.py.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import pytest

from local.cli import build_parser
from local.exits import MEANINGS, ExitCode
from local.statedir import LOCK_FILE
from tests.cli.conftest import assert_one_error_line, run

pytestmark = pytest.mark.cli

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "docs" / "sample-report.csv"


def clean_aws_env(home: Path, **extra: str) -> dict[str, str]:
    """No AWS configuration at all: no variables, no ~/.aws, no instance metadata to ask."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(home), AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=str(home / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(home / "none"), **extra)  # fmt: skip
    return env


# ---- usage ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["local", "up", "--claims", "-5"], "argument --claims: must be 0 or more, not -5"),
        (["local", "up", "--claims", "many"], "argument --claims: 'many' is not a whole number"),
        (["local", "api", "--port", "99999"], "argument --port: 99999 is not a port number (0-65535"),
        (["local", "api", "--port", "-1"], "argument --port: -1 is not a port number"),
        (["sync", "--timeout", "0"], "argument --timeout: must be more than 0 seconds"),
        (["runs", "--limit", "0"], "argument --limit: must be 1 or more"),
        (["failures", "a/b"], "argument RUN_ID: 'a/b' is not a run id"),
        (["sync", "--follow", "x", "--full"], "--follow RUN_ID follows a started run"),
        (["nonsense"], "invalid choice: 'nonsense'"),
        ([], "the following arguments are required: COMMAND"),
        (["runs", "--state-dir", "/tmp"], "--state-dir goes with --local"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str], fragment: str, tmp_path: Path) -> None:
    result = run(*args, env=clean_aws_env(tmp_path, AWS_REGION="us-east-1"), timeout=60)
    line = assert_one_error_line(result, 2)
    assert fragment in line, line
    assert result.stdout == ""


def test_version() -> None:
    result = run("--version", timeout=60)
    assert result.returncode == 0 and re.fullmatch(r"claimsync \d+\.\d+\.\d+\n", result.stdout)


def test_every_option_has_a_help_text_that_states_its_default() -> None:
    def parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
        found = [parser]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    found.extend(parsers(sub))
        return found

    for parser in parsers(build_parser()):
        text = parser.format_help()
        assert "developer" not in text.lower() and "import" not in text.lower(), parser.prog
        for action in parser._actions:
            if isinstance(
                action, argparse._SubParsersAction | argparse._HelpAction | argparse._VersionAction
            ):
                continue
            assert action.help, f"{parser.prog} {action.dest} has no help"
            if action.option_strings and action.nargs != 0 and not action.required:
                assert action.default is not None or "default" in action.help, (
                    f"{parser.prog} {action.option_strings[0]}: say the default"
                )


def test_the_exit_code_table_in_help_is_the_one_in_the_runbook() -> None:
    runbook = (REPO / "docs" / "runbook.md").read_text()
    for code in ExitCode:
        row = f"| {int(code)} | {MEANINGS[code]} |"
        assert row in runbook, row
    help_text = run("--help", timeout=60).stdout
    for code in ExitCode:
        assert re.search(rf"^\s+{int(code)}  {re.escape(MEANINGS[code])}$", help_text, re.M), code


# ---- input files ---------------------------------------------------------------------------------------
def test_a_missing_report_file_is_one_line_exit_4(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    for result in (
        run("preview", "--report-file", str(missing), timeout=60),
        run("local", "up", "--report-file", str(missing), state_dir=tmp_path / "w", timeout=120),
    ):
        line = assert_one_error_line(result, 4)
        assert f"{missing}: cannot read the file (No such file or directory)" in line
    assert not (tmp_path / "w" / "endpoints.json").exists(), "nothing started"


def test_an_unreadable_report_file_is_one_line_exit_4(tmp_path: Path) -> None:
    """Unreadable whoever runs the test (root reads a mode-000 file): a directory by that name."""
    unreadable = tmp_path / "claims.csv"
    unreadable.mkdir()
    for result in (
        run("preview", "--report-file", str(unreadable), timeout=60),
        run("local", "up", "--report-file", str(unreadable), state_dir=tmp_path / "w", timeout=120),
    ):
        line = assert_one_error_line(result, 4)
        assert f"{unreadable}: cannot read the file (Is a directory)" in line


def test_a_bad_payor_mappings_file_is_one_line_exit_4(tmp_path: Path) -> None:
    bad = tmp_path / "payors.json"
    bad.write_text("{not json")
    result = run("preview", "--report-file", str(SAMPLE), "--payor-mappings", str(bad), timeout=60)
    assert_one_error_line(result, 4)


# ---- AWS configuration ----------------------------------------------------------------------------------
@pytest.mark.parametrize("verb", [["runs"], ["sync"], ["failures", "some-run"]])
def test_no_aws_region_is_one_line_exit_6(verb: list[str], tmp_path: Path) -> None:
    line = assert_one_error_line(run(*verb, env=clean_aws_env(tmp_path), timeout=60), 6)
    assert line.startswith("error: no AWS region")


def test_no_aws_credentials_is_one_line_exit_6(tmp_path: Path) -> None:
    result = run("runs", "--region", "eu-west-1", env=clean_aws_env(tmp_path), timeout=60)
    assert assert_one_error_line(result, 6).startswith("error: no AWS credentials")


def test_aws_unreachable_is_one_line_exit_6(tmp_path: Path) -> None:
    env = clean_aws_env(
        tmp_path,
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="y",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",  # nothing listens on the discard port
        AWS_MAX_ATTEMPTS="1",
    )
    line = assert_one_error_line(run("runs", env=env, timeout=120), 6)
    assert "127.0.0.1:9" in line


# ---- the local world is not there ------------------------------------------------------------------------
def test_commands_without_a_running_world_say_so(tmp_path: Path) -> None:
    for args in (["local", "sync"], ["sync", "--local"], ["runs", "--local"], ["local", "api"]):
        line = assert_one_error_line(run(*args, state_dir=tmp_path, timeout=60), 5)
        assert line.startswith(f"error: no local world is running for {tmp_path}")


def test_a_crashed_world_is_recognised_by_its_unlocked_state_dir(tmp_path: Path) -> None:
    """What `local up` leaves behind when it is killed: the endpoints file, and a lock nobody holds."""
    endpoints = {"aws": {"endpoint_url": "http://127.0.0.1:9", "region": "us-east-1", "bucket": "b",
                         "table": "t", "state_machine_arn": "arn:aws:states:us-east-1:1:stateMachine:m"},
                 "collaboratemd": {}, "salesforce": {}}  # fmt: skip
    (tmp_path / "endpoints.json").write_text(json.dumps(endpoints))
    (tmp_path / LOCK_FILE).write_text("999999\n")
    for args in (["local", "sync"], ["runs", "--local"]):
        line = assert_one_error_line(run(*args, state_dir=tmp_path, timeout=60), 5)
        assert "no local world is running" in line and "ended without cleaning up" in line


def test_a_world_that_does_not_answer_is_one_line_exit_5(tmp_path: Path) -> None:
    """The state directory is locked (as by a hung `local up`) but nothing answers at the endpoints."""
    import fcntl

    endpoints = {"aws": {"endpoint_url": "http://127.0.0.1:9", "region": "us-east-1", "bucket": "b",
                         "table": "t", "state_machine_arn": "arn:aws:states:us-east-1:1:stateMachine:m"},
                 "collaboratemd": {}, "salesforce": {}}  # fmt: skip
    (tmp_path / "endpoints.json").write_text(json.dumps(endpoints))
    with (tmp_path / LOCK_FILE).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = run("runs", "--local", state_dir=tmp_path, timeout=120)
    line = assert_one_error_line(result, 5)
    assert "no local world is running" in line and "does not answer" in line


# ---- preview and the documented sample --------------------------------------------------------------------
def test_preview_shows_what_would_be_sent_and_rejected(tmp_path: Path) -> None:
    from claimsync.mapping_file import load_mapping

    report = tmp_path / "r.json"
    blank = dict.fromkeys(load_mapping().source_columns, "")  # every mapped column, as the report has
    rows = [
        blank | {"ClaimID": "A1", "ClaimTotalAmount": "$1,000.00", "StatementCoversFromDate": "2024-01-02"},
        blank | {"ClaimID": "", "ClaimTotalAmount": "5"},
        blank | {"ClaimID": "A2", "ClaimTotalAmount": "12..3"},
    ]
    report.write_text(json.dumps(rows))
    result = run("preview", "--report-file", str(report), "--json", timeout=60)
    assert result.returncode == 0, result.stderr
    preview = json.loads(result.stdout)
    assert preview["would_send"] == 1 and preview["rejected"] == 2
    assert preview["reject_reasons"] == {"INVALID_AMOUNT": 1, "MISSING_CLAIM_ID": 1}
    text = run("preview", "--report-file", str(report), timeout=60).stdout
    assert "row 3 (claim A2): INVALID_AMOUNT:ClaimTotalAmount" in text


def test_the_documented_sample_report_is_accepted_by_preview() -> None:
    result = run("preview", "--report-file", str(SAMPLE), "--json", timeout=60)
    assert result.returncode == 0, result.stderr
    preview = json.loads(result.stdout)
    assert preview["rows_in"] == 3 and preview["would_send"] == 3
    assert preview["rejected"] == 0 and preview["reject_reasons"] == {}


def test_the_report_doc_names_every_column_the_mapping_reads_as_the_vendor_spells_it() -> None:
    from claimsync.mapping_file import load_mapping

    doc = (REPO / "docs" / "collaboratemd-report.md").read_text()
    header = SAMPLE.read_text().splitlines()[0].split(",")
    for column in load_mapping().source_columns:
        assert f"| `{column}` |" in doc, column
        assert column in header, column
