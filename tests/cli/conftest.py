"""Helpers for the command-line tests: real subprocesses, real local worlds (one per module)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

CLAIMSYNC = [sys.executable, "-m", "local.cli"]
READY_S = 180.0  # `local up` on a loaded 2-core machine


def run(
    *args: str, state_dir: Path | None = None, timeout: float = 240, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    extra = ["--state-dir", str(state_dir)] if state_dir else []
    return subprocess.run(
        [*CLAIMSYNC, *args, *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """Exactly one line on stderr, ``error: ...``, no traceback, and the documented exit code."""
    lines = result.stderr.splitlines()
    assert result.returncode == code, (result.returncode, result.stderr[-3000:])
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    return lines[0]


class Lines:
    """The lines a pipe delivers, read on a thread, waited for with a bound."""

    def __init__(self, pipe: Any) -> None:
        self.all: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe: Any) -> None:
        for line in pipe:
            self.all.append(line.rstrip("\n"))
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def next(self, timeout: float) -> str | None:
        """The next line, None at end of stream; queue.Empty after ``timeout``."""
        return self._queue.get(timeout=timeout)

    def wait_for(self, text: str, timeout: float) -> str:
        give_up = time.monotonic() + timeout
        while True:
            line = self.next(max(0.0, give_up - time.monotonic()))
            if line is None:
                raise AssertionError(f"stream ended before {text!r}: {self.all[-20:]}")
            if text in line:
                return line


@dataclass
class WorldProcess:
    """A `claimsync local up` subprocess."""

    state_dir: Path
    proc: subprocess.Popen[str]
    stdout: Lines
    stderr: Lines
    endpoints: dict[str, Any] = field(default_factory=dict)
    ready_s: float = 0.0

    @classmethod
    def start(cls, state_dir: Path, *args: str, env: dict[str, str] | None = None) -> WorldProcess:
        proc = subprocess.Popen(
            [*CLAIMSYNC, "local", "up", "--state-dir", str(state_dir), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        return cls(state_dir, proc, Lines(proc.stdout), Lines(proc.stderr))

    def wait_ready(self) -> WorldProcess:
        started = time.monotonic()
        first = self.stdout.next(READY_S)
        assert first is not None, self.stderr.all[-20:]
        self.endpoints = json.loads(first)
        self.ready_s = time.monotonic() - started
        return self

    def admin(self, system: str, method: str, path: str, body: Any = None) -> Any:
        e = self.endpoints[system]
        resp = requests.request(method, e["admin_url"] + path, json=body, verify=e["ca_cert"], timeout=60)
        assert resp.status_code < 300, (path, resp.status_code, resp.text[:300])
        return resp.json() if resp.content else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldProcess]:
    """One local world per test module (claims generated, seed fixed)."""
    state_dir = tmp_path_factory.mktemp("cli-world")
    process = WorldProcess.start(state_dir, "--claims", "300", "--seed", "3")
    try:
        yield process.wait_ready()
    finally:
        process.stop()
