"""``claimsync local up`` runs the claim sync's Lambdas as Lambda does: a REPORT line per invocation
on its stderr, and no worker process left behind when it stops."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from claimsync import layout
from local.syncrun import aws_client
from local.syncworld import FUNCTION_PREFIX

pytestmark = pytest.mark.workflow

CLAIMSYNC = [sys.executable, "-m", "local.cli"]
REPORT = re.compile(
    r"^(?P<function>\S+) REPORT RequestId: \S+ Duration: (?P<duration>\d+\.\d\d) ms"
    r" Billed Duration: \d+ ms Memory Size: (?P<size>\d+) MB Max Memory Used: (?P<used>\d+) MB"
)


def children(pid: int) -> list[int]:
    """The direct child processes of `pid` (from /proc: the local world's Lambda workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def running_after(pids: list[int], deadline_s: float) -> list[int]:
    """The pids still running once `deadline_s` has passed (waits on pidfds, no polling)."""
    fds = {}
    for pid in pids:
        try:
            fds[os.pidfd_open(pid)] = pid
        except ProcessLookupError:
            continue
    give_up = time.monotonic() + deadline_s
    try:
        while fds and (remaining := give_up - time.monotonic()) > 0:
            ready, _, _ = select.select(list(fds), [], [], remaining)
            for fd in ready:
                os.close(fd)
                fds.pop(fd)
        return sorted(fds.values())
    finally:
        for fd in fds:
            os.close(fd)


def lambda_invocations(endpoints: dict[str, Any], execution: str) -> list[str]:
    """The function name of every Lambda task the execution scheduled (retries included)."""
    sfn = aws_client(endpoints, "stepfunctions")
    arn = endpoints["aws"]["state_machine_arn"].replace(":stateMachine:", ":execution:") + ":" + execution
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    # The claim sync's Lambda tasks name the function ARN as their Resource.
    return [
        e["lambdaFunctionScheduledEventDetails"]["resource"].rsplit(":", 1)[-1]
        for e in events
        if e["type"] == "LambdaFunctionScheduled"
    ]


def test_local_up_reports_every_invocation_and_leaves_no_worker_behind(tmp_path: Path) -> None:
    state_dir = tmp_path / "world"
    stderr_path = tmp_path / "local-up.stderr"
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            [*CLAIMSYNC, "local", "up", "--claims", "200", "--seed", "5", "--state-dir", str(state_dir)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready, "local up printed nothing in 120 s"
        endpoints = json.loads(proc.stdout.readline())
        assert "aws" in endpoints
        sync = subprocess.run(
            [*CLAIMSYNC, "local", "sync", "--json", "--state-dir", str(state_dir)],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert sync.returncode == 0, sync.stderr[-2000:]
        summary = json.loads(sync.stdout.strip().splitlines()[-1])
        lambda_tasks = lambda_invocations(endpoints, summary["execution"])
        workers = children(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    assert proc.returncode == 0
    assert proc.stdout.read() == ""  # stdout holds the endpoints line only
    reports = [m for m in map(REPORT.match, stderr_path.read_text().splitlines()) if m]
    sizes = {FUNCTION_PREFIX + spec.name: spec.memory_mb for spec in layout.SYNC_FUNCTIONS}
    assert len(reports) == len(lambda_tasks), "one REPORT line per Lambda invocation"
    assert sorted(m["function"] for m in reports) == sorted(lambda_tasks)
    for m in reports:
        assert int(m["size"]) == sizes[m["function"]]
        assert 20 <= int(m["used"]) < int(m["size"])  # the runtime and its imports, at least
        assert float(m["duration"]) > 0
    assert len(workers) >= len(set(lambda_tasks))  # one execution environment per function invoked
    assert running_after(workers, deadline_s=5) == []
