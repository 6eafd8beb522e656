"""`local up` under stress: settings from the environment, the report deadline, and stopping within
seconds when the stop signal lands on a worker thread during a run.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.cli.conftest import CLAIMSYNC, Lines, WorldProcess, assert_one_error_line, run

pytestmark = pytest.mark.cli

STOP_WITHIN_S = 20.0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldProcess]:
    state_dir = tmp_path_factory.mktemp("cli-lifecycle")
    process = WorldProcess.start(state_dir, "--claims", "50", env={"CLAIMSYNC_REPORT_DEADLINE_SECONDS": "2"})
    try:
        yield process.wait_ready()
    finally:
        process.stop()


def test_an_invalid_setting_in_the_environment_is_refused_before_anything_starts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "CLAIMSYNC_MAX_PAGES": "3"}
    result = run("local", "up", state_dir=tmp_path, env=env, timeout=120)
    assert "max_pages" in assert_one_error_line(result, 2)
    assert not (tmp_path / "endpoints.json").exists()


def test_the_report_deadline_ends_the_run_with_a_clear_line(world: WorldProcess) -> None:
    world.admin("collaboratemd", "POST", "/config", {"running_polls": 100_000})
    result = run("local", "sync", state_dir=world.state_dir, timeout=120)
    line = assert_one_error_line(result, 1)
    assert line.endswith(
        "failed: the CollaborateMD report was still running at the report deadline (report_deadline_seconds)"
    )
    assert "report     CollaborateMD report requested — first check in 20 s" in result.stdout
    assert re.search(
        r"report\s+FAILED in \d+\.\d s — the CollaborateMD report was still running", result.stdout
    )


def test_sigterm_on_a_worker_thread_during_a_run_stops_the_world_within_seconds(world: WorldProcess) -> None:
    """A process-directed signal may be delivered to any thread; the main thread must still notice."""
    world.admin("collaboratemd", "POST", "/config", {"running_polls": 1})
    world.admin("collaboratemd", "POST", "/reset")
    world.admin("collaboratemd", "POST", "/faults", {"kind": "delay", "seconds": 30, "count": 1, "on": "run"})
    follower = subprocess.Popen(
        [*CLAIMSYNC, "local", "sync", "--state-dir", str(world.state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        Lines(follower.stdout).wait_for("prepare    done", timeout=60)  # the run is in a Lambda now
        pid = world.proc.pid
        workers = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)
        assert workers, "local up runs servers on threads"
        libc = ctypes.CDLL(None, use_errno=True)
        # The newest thread that is still there: a request's thread can end between the listing and
        # the signal (ESRCH), so try the next older one.
        target = next((t for t in reversed(workers) if libc.tgkill(pid, t, signal.SIGTERM) == 0), None)
        assert target is not None, "no thread of local up took the signal"
        sent = time.monotonic()
        assert world.proc.wait(timeout=STOP_WITHIN_S + 10) == 0
        took = time.monotonic() - sent
        assert took < STOP_WITHIN_S, took
        assert not (world.state_dir / "endpoints.json").exists()
        print(f"stopped {took:.1f} s after SIGTERM on thread {target}")
        gone = follower.wait(timeout=60)
        assert gone != 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait(timeout=30)
