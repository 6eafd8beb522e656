"""An emulator in a process of its own, as the service it stands for runs apart from its clients.

The local world runs moto, the Step Functions interpreter and the Lambda pools in its own process;
the emulators used to run there too, on threads. CPython runs one thread at a time, so the
Salesforce emulator ingesting a Bulk job or the CollaborateMD emulator encoding a report stalled
every moto call of the run meanwhile (measured: the 1M-claim sync spent minutes there). In
processes of their own they use the machine's other core, and a run's phases overlap as they do
against the real services.

Both sides of the protocol are here:

* the parent starts ``python -m <emulator> ... --parent-pipe`` with :class:`EmulatorProcess`, reads
  one JSON line (the emulator's endpoints) from its stdout, and stops it by closing its stdin;
* the child calls :func:`serve` with its start and stop functions: it prints the ready line, sends
  anything it prints afterwards to stderr, and stops on SIGINT/SIGTERM or, with ``--parent-pipe``,
  when its stdin closes, which is also what happens when the parent dies, however it dies.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class EmulatorFailed(RuntimeError):
    """The emulator process exited, or said nothing, before it was ready."""


class EmulatorProcess:
    """``python -m module args`` as a child that prints its endpoints once ready."""

    def __init__(self, module: str, args: list[str], *, ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        self.module = module
        self.args = args
        self.ready_timeout_s = ready_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoints: dict[str, Any] = {}

    def launch(self) -> EmulatorProcess:
        """Start the process (returns at once: :meth:`wait_ready` reads its endpoints)."""
        env = dict(os.environ)
        paths = [str(REPO_ROOT), str(REPO_ROOT / "lambdas"), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args, "--parent-pipe"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,  # Ctrl-C reaches the world, which stops its emulators in order
        )
        return self

    def wait_ready(self) -> dict[str, Any]:
        """The endpoints the emulator printed; EmulatorFailed if it ends or is silent first."""
        proc = self._running()
        assert proc.stdout is not None
        line = _read_line(proc.stdout, self.ready_timeout_s)
        if not line:
            self.stop()
            code = proc.returncode
            raise EmulatorFailed(
                f"{self.module} did not start (exit status {code}; its error is printed above)"
                if code is not None
                else f"{self.module} said nothing for {self.ready_timeout_s:.0f} s and was stopped"
            )
        proc.stdout.close()  # the child writes nothing more there: it sends its output to stderr
        ready = json.loads(line)
        if not isinstance(ready, dict):
            self.stop()
            raise EmulatorFailed(f"{self.module} printed {line[:80]!r} instead of its endpoints")
        self.endpoints = ready
        return ready

    def start(self) -> dict[str, Any]:
        return self.launch().wait_ready()

    def stop(self) -> None:
        """Close its stdin (it stops and exits), then wait; terminate, then kill, if it does not."""
        proc = self.process
        if proc is None:
            return
        self.process = None
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        for ask in (None, proc.terminate, proc.kill):
            if ask is not None:
                ask()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
                return
            except subprocess.TimeoutExpired:
                continue

    @property
    def pid(self) -> int:
        return self._running().pid

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise EmulatorFailed(f"{self.module} is not started")
        return self.process


def _read_line(stream: IO[bytes], timeout_s: float) -> str:
    """One line from a pipe within ``timeout_s`` ('' on end of file or timeout)."""
    deadline = time.monotonic() + timeout_s
    buffered = b""
    fd = stream.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in buffered:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                return ""
            chunk = os.read(fd, 65536)
            if not chunk:
                return ""
            buffered += chunk
    return buffered.split(b"\n", 1)[0].decode()


def emulator_parser(module: str, description: str | None) -> argparse.ArgumentParser:
    """The options every emulator takes; each adds ``--tls-dir`` and its own."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument(
        "--credentials", type=Path, help="default: <state-dir>/credentials.json (created if missing)"
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--parent-pipe",
        action="store_true",
        help="stop when standard input closes (how the local world runs its emulators)",
    )
    return parser


def load_or_create(path: Path, cls: Any) -> Any:
    """The credentials of ``cls`` saved at ``path``; generated and saved (owner-only) if none are."""
    if path.exists():
        return cls.load(path)
    creds = cls.generate()
    creds.save(path)  # owner-only (0600) from the start
    return creds


def serve(start: Callable[[], dict[str, Any]], stop: Callable[[], None], *, parent_pipe: bool) -> int:
    """Start, print the ready line, serve until told to stop (a signal, or stdin's end), stop."""
    stopping = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    ready = start()
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    if parent_pipe:
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the parent reads one line only
        threading.Thread(target=_stop_at_eof, args=(stopping,), name="parent-pipe", daemon=True).start()
    stopping.wait()
    stop()
    return 0


def _stop_at_eof(stopping: threading.Event) -> None:
    while os.read(sys.stdin.fileno(), 4096):
        pass
    stopping.set()
