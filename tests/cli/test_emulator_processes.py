"""`local up` runs each emulator in a process of its own (local/emulator_process.py): they answer
while the world runs, end when it stops, and end when it dies without a chance to stop them."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from local.emulator_process import EmulatorFailed, EmulatorProcess
from tests.cli.conftest import WorldProcess, run

pytestmark = pytest.mark.cli

GONE_WITHIN_S = 20.0


def _emulator_pids(state_dir: Path) -> dict[str, int]:
    """module -> pid of the emulator processes started for ``state_dir`` (read from /proc)."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # ended meanwhile
        words = [a.decode(errors="replace") for a in argv]
        module = next((w for w in words if w.startswith("local.") and w.endswith("_emulator")), None)
        if module and any(w.startswith(str(state_dir)) for w in words):
            found[module] = int(entry.name)
    return found


def _wait_gone(pids: list[int]) -> list[int]:
    """The pids still alive after GONE_WITHIN_S (polled every 0.2 s)."""
    give_up = time.monotonic() + GONE_WITHIN_S
    alive = pids
    while alive and time.monotonic() < give_up:
        time.sleep(0.2)
        alive = [pid for pid in alive if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
    return alive


def _zombie(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) == "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.parametrize("ending", ["stopped", "killed"])
def test_the_emulators_run_apart_from_the_world_and_end_with_it(tmp_path: Path, ending: str) -> None:
    world = WorldProcess.start(tmp_path, "--claims", "20")
    try:
        world.wait_ready()
        pids = _emulator_pids(tmp_path)
        assert set(pids) == {"local.salesforce_emulator", "local.collaboratemd_emulator"}
        assert world.proc.pid not in pids.values()
        # each answers from its own process
        assert world.admin("salesforce", "GET", "/health") is not None
        assert world.admin("collaboratemd", "GET", "") is not None
        if ending == "stopped":
            world.proc.send_signal(signal.SIGINT)
            assert world.proc.wait(timeout=60) == 0
        else:  # no handler runs: the emulators see their stdin close and stop by themselves
            os.kill(world.proc.pid, signal.SIGKILL)
            world.proc.wait(timeout=30)
        assert _wait_gone(list(pids.values())) == []
    finally:
        world.stop()


def test_an_emulator_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    bad = EmulatorProcess("local.salesforce_emulator", ["--state-dir", str(tmp_path), "--port", "-5"])
    with pytest.raises(EmulatorFailed, match="did not start"):
        bad.start()
    assert bad.process is None


def test_an_emulator_started_on_its_own_serves_until_its_stdin_closes(tmp_path: Path) -> None:
    emu = EmulatorProcess("local.collaboratemd_emulator", ["--state-dir", str(tmp_path)])
    ready = emu.start()
    try:
        assert ready["url"].startswith("http://127.0.0.1:")
        assert requests.get(ready["admin_url"], timeout=30).status_code == 200
        pid = emu.pid
    finally:
        emu.stop()
    assert _wait_gone([pid]) == []


def test_local_up_whose_emulator_cannot_start_says_so_on_its_last_line_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "salesforce").write_text("a file where the emulator keeps its database")
    result = run("local", "up", "--claims", "5", state_dir=tmp_path, timeout=180)
    assert result.returncode == 70 and result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert (
        last == "error: local.salesforce_emulator did not start (exit status 1; its error is printed above)"
    )
    assert "FileExistsError" in result.stderr  # the emulator's own error, printed by it
    assert _wait_gone(list(_emulator_pids(tmp_path).values())) == []
    assert not (tmp_path / "endpoints.json").exists()
