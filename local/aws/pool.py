"""Lambda execution environments for the local AWS: a pool of worker processes per function.

Lambda runs each function in execution environments: separate processes (micro-VMs) that import
the handler once (the cold start), are reused by later invocations while warm (one invocation at a
time each), and are ended when an invocation runs out of memory or time. This module does the same
on this machine:

* ``FunctionPool`` keeps up to ``size`` worker processes (``local/aws/lambda_worker.py``) for one
  function, started on demand and reused while warm. With every worker busy, an invocation
  waits for one (like a function with that much reserved concurrency, except that it queues rather
  than being throttled). ``FunctionPool.warm`` starts one ahead of the first invocation, as
  ``sam local start-lambda --warm-containers EAGER`` does (Lambda's provisioned concurrency): the
  local world warms every function when it starts, so a run does not pay an import per function.
* ``Worker.invoke`` enforces the function's **timeout** (real seconds) and **memory size**. While
  the handler runs, the parent reads the worker's peak resident set (``VmHWM`` in
  ``/proc/<pid>/status``) every ``WATCH_INTERVAL_S``, having reset that peak before sending the
  invocation (``/proc/<pid>/clear_refs``). Over the memory size, the worker is killed and the
  invocation fails with ``Runtime.OutOfMemory``; over the timeout, with ``Sandbox.Timedout``. A
  spike that came and went between two reads is still in the peak read after the handler returns:
  that invocation fails the same way, as Lambda would have killed it.
* Every invocation yields a ``Report``: Lambda's REPORT line with the measured duration and peak.

Why not RLIMIT_AS or cgroups: RLIMIT_AS limits virtual size (Python maps far more than it touches,
and threads reserve stacks), so it fails healthy handlers and misses nothing a resident-set watch
catches. A memory cgroup is what Lambda uses, but creating one needs root or a delegated cgroup v2
subtree (``systemd-run --user --scope``), which a developer machine or CI runner may not give; the
/proc watch works for any user on Linux. Its cost: the limit can be overshot by what a handler
allocates within one watch interval before the kill (measured in local/aws/README.md).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from local.aws.lambda_worker import error_body

WATCH_INTERVAL_S = 0.02  # how often a busy worker's peak memory is read (VmHWM keeps the peak between reads)
INIT_TIMEOUT_S = 10.0  # Lambda's limit for the init phase; added to the function timeout (see below)
FLUSH_TIMEOUT_S = 2.0  # how long the REPORT line waits for the invocation's last log lines
STOP_TIMEOUT_S = 5.0
_WORKER_SCRIPT = str(Path(__file__).resolve().with_name("lambda_worker.py"))
_KB = 1024

logger = logging.getLogger(__name__)

LogSink = Callable[[str, str], None]
"""Receives (function name, one line of the function's stdout/stderr)."""


@dataclass(frozen=True)
class FunctionConfig:
    """What the pool needs to know about a function: Lambda's configuration, locally."""

    name: str
    arn: str
    handler: str  # "module.function", importable in the worker
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]


@dataclass(frozen=True)
class Report:
    """One invocation as Lambda's REPORT line describes it."""

    function_name: str
    request_id: str
    duration_ms: float
    memory_size_mb: int
    max_memory_used_mb: int | None  # None: the handler ran in-process, where no peak is measurable
    init_duration_ms: float | None = None  # cold start: importing the handler module
    status: str | None = None  # "timeout" or "error" when the environment failed (Lambda's Status)
    error_type: str | None = None  # with status "error": Runtime.OutOfMemory, Runtime.ExitError, ...

    @property
    def billed_duration_ms(self) -> int:
        """Duration rounded up to the millisecond; a cold start also bills its init phase, as Lambda
        does for managed runtimes since August 2025."""
        return math.ceil(self.duration_ms + (self.init_duration_ms or 0.0))

    def line(self) -> str:
        """``<function> REPORT RequestId: ... Duration: ... ms Billed Duration: ... ms Memory Size: ...
        MB Max Memory Used: ... MB`` (+ ``Init Duration``, ``Status``, ``Error Type`` when they apply).
        Lambda separates the fields with tabs; a single space here."""
        parts = [
            f"REPORT RequestId: {self.request_id}",
            f"Duration: {self.duration_ms:.2f} ms",
            f"Billed Duration: {self.billed_duration_ms} ms",
            f"Memory Size: {self.memory_size_mb} MB",
        ]
        if self.max_memory_used_mb is not None:
            parts.append(f"Max Memory Used: {self.max_memory_used_mb} MB")
        if self.init_duration_ms is not None:
            parts.append(f"Init Duration: {self.init_duration_ms:.2f} ms")
        if self.status is not None:
            parts.append(f"Status: {self.status}")
        if self.error_type is not None:
            parts.append(f"Error Type: {self.error_type}")
        return f"{self.function_name} " + " ".join(parts)


@dataclass(frozen=True)
class Outcome:
    """What the Lambda service answers: the payload (result or error JSON), and whether it is a
    function error (the ``x-amz-function-error`` header)."""

    payload: bytes
    failed: bool
    report: Report


class StartFailure(Exception):
    """No execution environment could run the invocation (the handler module did not import, the
    init phase timed out, the pool is stopping); ``payload`` is Lambda's error body for it."""

    def __init__(self, payload: str, error_type: str) -> None:
        super().__init__(error_type)
        self.payload = payload
        self.error_type = error_type


def peak_kb(pid: int) -> int:
    """The process's peak resident set since its last reset (VmHWM), in KiB; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def reset_peak(pid: int) -> None:
    """Restart the process's VmHWM at its current resident set (Linux: ``/proc/<pid>/clear_refs``)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass  # the peak then runs from the start of the worker


def _mb(kb: int) -> int:
    return math.ceil(kb / _KB)


def _exit_description(returncode: int | None) -> str:
    """How Lambda's runtime API words a runtime's exit: ``signal: killed``, ``exit status 1``."""
    if returncode is not None and returncode < 0:
        try:
            return f"signal: {signal.strsignal(-returncode) or -returncode}".lower()
        except ValueError:
            return f"signal: {-returncode}"
    return f"exit status {returncode}"


class Worker:
    """One execution environment: a ``lambda_worker`` process with the function's handler imported."""

    def __init__(self, config: FunctionConfig, environment: dict[str, str], log: LogSink) -> None:
        self.config = config
        self.generation = 0
        self.healthy = True
        self._log = log
        self._token = secrets.token_hex(8)
        self._flushed = threading.Event()
        parent_end, child_end = socket.socketpair()
        env = dict(environment)
        env["PYTHONUNBUFFERED"] = "1"  # log lines reach the parent as they are written
        started = time.monotonic()
        try:
            self.process = subprocess.Popen(
                # By path, not `-m local.aws.lambda_worker`: importing the package would load
                # the runtime (boto3) into every worker and inflate its memory figures.
                [sys.executable, _WORKER_SCRIPT, str(child_end.fileno())],
                pass_fds=(child_end.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C on `local up` stops the world, which stops its workers
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        self._conn = Connection(os.dup(parent_end.fileno()))
        parent_end.close()
        self._reader = threading.Thread(
            target=self._read_output, name=f"lambda-log-{config.name}", daemon=True
        )
        self._reader.start()
        self.init_duration_ms: float | None = None
        self._init(started)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _init(self, started: float) -> None:
        c = self.config
        init = {
            "handler": c.handler,
            "function_name": c.name,
            "function_arn": c.arn,
            "memory_mb": c.memory_mb,
            "timeout_s": c.timeout_s,
            "sys_path": [entry or os.getcwd() for entry in sys.path],  # "": the working directory
            "parent_pid": os.getpid(),
            "token": self._token,
        }
        try:
            self._conn.send_bytes(json.dumps(init).encode())
            # Lambda gives the init phase 10 s, then retries it inside the invocation's own timeout.
            if not self._conn.poll(INIT_TIMEOUT_S + c.timeout_s):
                self.close()
                raise StartFailure(error_body("Sandbox.Timedout", "Init timed out"), "Sandbox.Timedout")
            answer = json.loads(self._conn.recv_bytes())
        except (EOFError, OSError):
            self.close()
            message = f"Error: Runtime exited with error: {_exit_description(self.process.poll())}"
            raise StartFailure(error_body("Runtime.ExitError", message), "Runtime.ExitError") from None
        if not answer["ready"]:
            self.close()
            raise StartFailure(error_body(answer["errorType"], answer["errorMessage"]), answer["errorType"])
        self.init_duration_ms = (time.monotonic() - started) * 1000

    def _read_output(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        marker = f"\0{self._token} "
        for raw in stream:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line.startswith(marker):
                self._flushed.set()
            else:
                self._log(self.config.name, line)
        stream.close()

    def invoke(self, request_id: str, payload: str) -> Outcome:
        """Run one invocation under the function's timeout and memory size."""
        c = self.config
        limit_kb = c.memory_mb * _KB
        init_ms, self.init_duration_ms = self.init_duration_ms, None  # reported once, by the first call
        self._flushed.clear()
        # Reset here, not in the worker: a read before the worker got to it would carry the last
        # invocation's peak into this one.
        reset_peak(self.pid)
        started = time.monotonic()
        try:
            self._conn.send_bytes(json.dumps({"request_id": request_id, "payload": payload}).encode())
        except OSError:  # the worker died while idle
            return self._fail_runtime(request_id, started, 0, init_ms, "Runtime.ExitError")
        deadline = started + c.timeout_s
        peak = 0
        answer: dict[str, Any] | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._fail_timeout(request_id, started, peak, init_ms)
            if self._conn.poll(min(WATCH_INTERVAL_S, remaining)):
                try:
                    answer = json.loads(self._conn.recv_bytes())
                except EOFError:
                    answer = None
                break
            peak = max(peak, peak_kb(self.pid))
            if peak > limit_kb:
                return self._fail_runtime(request_id, started, peak, init_ms, "Runtime.OutOfMemory")
        peak = max(peak, peak_kb(self.pid))
        if answer is None:  # the runtime exited: killed from outside, os._exit, a crash
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT_S)
            kind = "Runtime.OutOfMemory" if peak > limit_kb else "Runtime.ExitError"
            return self._fail_runtime(request_id, started, peak, init_ms, kind)
        duration_ms = (time.monotonic() - started) * 1000
        if peak > limit_kb:  # a spike between two reads: Lambda would have killed the environment
            return self._fail_runtime(request_id, started, peak, init_ms, "Runtime.OutOfMemory")
        self._flushed.wait(FLUSH_TIMEOUT_S)
        report = Report(c.name, request_id, duration_ms, c.memory_mb, _mb(peak), init_ms)
        return Outcome(answer["payload"].encode(), not answer["ok"], report)

    def _fail_timeout(self, request_id: str, started: float, peak: int, init_ms: float | None) -> Outcome:
        self.kill()
        c = self.config
        duration_ms = (time.monotonic() - started) * 1000
        message = f"RequestId: {request_id} Error: Task timed out after {c.timeout_s:.2f} seconds"
        report = Report(c.name, request_id, duration_ms, c.memory_mb, _mb(peak), init_ms, status="timeout")
        return Outcome(error_body("Sandbox.Timedout", message).encode(), True, report)

    def _fail_runtime(
        self, request_id: str, started: float, peak: int, init_ms: float | None, error_type: str
    ) -> Outcome:
        self.kill()
        c = self.config
        duration_ms = (time.monotonic() - started) * 1000
        exit_text = (
            "signal: killed"
            if error_type == "Runtime.OutOfMemory"
            else _exit_description(self.process.returncode)
        )
        message = f"RequestId: {request_id} Error: Runtime exited with error: {exit_text}"
        report = Report(
            c.name,
            request_id,
            duration_ms,
            c.memory_mb,
            _mb(peak),
            init_ms,
            status="error",
            error_type=error_type,
        )
        return Outcome(error_body(error_type, message).encode(), True, report)

    def kill(self) -> None:
        """End the environment at once (SIGKILL, as Lambda ends one) and reap the process. Safe from
        any thread: an invocation waiting on this worker sees the runtime exit."""
        self.healthy = False
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            logger.warning("worker %s of %s did not exit after SIGKILL", self.pid, self.config.name)

    def close(self) -> None:
        """Kill the process and release the socket and the log reader (by the worker's last user)."""
        self.kill()
        self._conn.close()
        self._reader.join(STOP_TIMEOUT_S)


class FunctionPool:
    """Up to ``size`` warm workers for one function; spawned lazily, reused while warm."""

    def __init__(
        self, config: FunctionConfig, size: int, environment: Callable[[], dict[str, str]], log: LogSink
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        self.config = config
        self.size = size
        self._environment = environment
        self._log = log
        self._cond = threading.Condition()
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._starting = 0
        self._generation = 0
        self._stopped = False

    def pids(self) -> list[int]:
        """Process ids of the live workers (idle or busy)."""
        with self._cond:
            return sorted(w.pid for w in self._all)

    def reconfigure(self, config: FunctionConfig) -> None:
        """New configuration (environment, memory, timeout): warm workers are retired, as Lambda
        replaces execution environments after UpdateFunctionConfiguration."""
        with self._cond:
            self.config = config
            self._generation += 1
            retired, self._idle = self._idle, []
            for worker in retired:
                self._all.discard(worker)
            self._cond.notify_all()
        for worker in retired:
            worker.close()

    def invoke(self, request_id: str, payload: str) -> Outcome:
        try:
            worker = self._acquire()
        except StartFailure as exc:
            c = self.config
            report = Report(
                c.name, request_id, 0.0, c.memory_mb, None, status="error", error_type=exc.error_type
            )
            return Outcome(exc.payload.encode(), True, report)
        try:
            return worker.invoke(request_id, payload)
        finally:
            self._release(worker)

    def _acquire(self) -> Worker:
        with self._cond:
            while True:
                if self._stopped:
                    raise StartFailure(
                        error_body("Lambda.ServiceException", "the local AWS is stopping"),
                        "Lambda.ServiceException",
                    )
                while self._idle:
                    idle = self._idle.pop()  # the most recently used: warmest, as Lambda prefers
                    if idle.process.poll() is None:
                        return idle
                    self._all.discard(idle)  # ended while idle (killed from outside): replace it
                    idle.close()
                if len(self._all) + self._starting < self.size:
                    self._starting += 1
                    generation, config = self._generation, self.config
                    break
                self._cond.wait(1.0)
        return self._start(generation, config)

    def _start(self, generation: int, config: FunctionConfig) -> Worker:
        """A new worker, for a start the caller reserved (``_starting``); in the pool once started."""
        worker: Worker | None = None
        try:
            worker = Worker(config, self._environment(), self._log)
            worker.generation = generation
        finally:
            with self._cond:
                self._starting -= 1
                if worker is not None:
                    self._all.add(worker)
                self._cond.notify_all()
        return worker

    def warm(self) -> None:
        """Start one execution environment now, if the function has none, and keep it idle: its first
        invocation is then warm (no Init Duration in its REPORT, as with provisioned concurrency). One
        that cannot start is left to the first invocation, which then fails with Lambda's error."""
        with self._cond:
            if self._stopped or self._all or self._starting:
                return
            self._starting += 1
            generation, config = self._generation, self.config
        try:
            worker = self._start(generation, config)
        except StartFailure:
            return
        worker.init_duration_ms = None  # its init ran before any invocation: none bills it
        self._release(worker)  # idle, unless the pool was stopped or reconfigured meanwhile

    def _release(self, worker: Worker) -> None:
        with self._cond:
            keep = worker.healthy and worker.generation == self._generation and not self._stopped
            if keep:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
            self._cond.notify_all()
        if not keep:
            worker.close()

    def stop(self) -> None:
        """Kill every worker, idle or busy (a busy invocation then fails at once)."""
        with self._cond:
            self._stopped = True
            idle, busy = list(self._idle), self._all.difference(self._idle)
            self._all.clear()
            self._idle.clear()
            self._cond.notify_all()
        for worker in idle:
            worker.close()
        for worker in busy:
            worker.kill()  # the invocation using it fails at once and closes it
