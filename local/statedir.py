"""Where a local world keeps its state, and how a client finds the world running on it.

Light on purpose (no emulator, no moto): every ``claimsync`` command against the local world reads
the endpoints through here, and ``local/world.py`` (which starts the world) imports the emulators.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".local-world"
ENDPOINTS_FILE = "endpoints.json"
LOCK_FILE = "local-up.lock"


class WorldNotRunning(Exception):
    """No ``local up`` serves this state directory (never started, stopped, or crashed)."""


class WorldBusy(Exception):
    """Another ``local up`` already serves this state directory."""


def state_dir_from(arg: str | None) -> Path:
    return Path(arg or os.environ.get("CLAIMSYNC_STATE_DIR") or DEFAULT_STATE_DIR).resolve()


def _start_hint(state_dir: Path) -> str:
    default = state_dir_from(None)
    return "claimsync local up" + ("" if state_dir == default else f" --state-dir {state_dir}")


def read_endpoints(state_dir: Path) -> dict[str, Any]:
    """The endpoints of the world running on ``state_dir``; WorldNotRunning if none is."""
    path = state_dir / ENDPOINTS_FILE
    if not path.exists():
        raise WorldNotRunning(
            f"no local world is running for {state_dir} (start one with: {_start_hint(state_dir)})"
        )
    if (state_dir / LOCK_FILE).exists() and lock_holder(state_dir) is None:
        raise WorldNotRunning(
            f"no local world is running for {state_dir}: the last one ended without cleaning up "
            f"(start it again with: {_start_hint(state_dir)})"
        )
    try:
        endpoints = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WorldNotRunning(f"cannot read {path} ({type(exc).__name__})") from None
    if not isinstance(endpoints, dict):
        raise WorldNotRunning(f"{path} is not an endpoints file")
    return endpoints


class StateDirLock:
    """The exclusive lock a running world holds on its state directory (released on stop or exit)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise WorldBusy(
                f"another claimsync local up{who} is already running on {self.path.parent}; "
                "stop it first or pass another --state-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def lock_holder(state_dir: Path) -> int | None:
    """The pid of the ``local up`` holding the state directory (0 if unknown), None if nobody does."""
    try:
        fd = os.open(state_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    return None
