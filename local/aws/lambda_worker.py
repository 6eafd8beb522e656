"""One Lambda execution environment: a process that imports a handler once and runs its invocations.

``local/aws/pool.py`` starts it as ``python <path of this file> <fd>``, where ``<fd>`` is this
process's end of a socket pair (run as a script, so the worker imports nothing of ``local.aws``). Everything on that socket is a length-prefixed message
(``multiprocessing.connection``) holding JSON:

1. parent -> worker: ``{"handler": "module.function", "function_name", "function_arn", "memory_mb",
   "timeout_s", "sys_path", "parent_pid", "token"}``; the worker imports the handler module (the cold
   start) and answers ``{"ready": true}`` or ``{"ready": false, "errorType", "errorMessage"}``.
2. parent -> worker: ``{"request_id", "payload"}`` (the JSON event, as text), one at a time; the
   worker runs the handler and answers ``{"ok": true, "payload"}`` or ``{"ok": false, "payload"}``
   (the ``{"errorType", "errorMessage", "stackTrace"}`` JSON).

stdout and stderr are the function's log stream (the parent relays them, as Lambda sends them to
CloudWatch Logs). After each invocation the worker flushes both and writes a marker line carrying the
parent's token, so the parent can print the REPORT line after the invocation's last log line.

The worker exits when the socket closes, and a watcher thread ends it if its parent process dies,
so no worker outlives the local world. Memory and time limits are enforced by the parent, which
kills the whole process, as Lambda ends an execution environment. This module imports only the
standard library; the handler's imports are the cold start.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

PARENT_CHECK_INTERVAL_S = 0.5


@dataclass(frozen=True)
class LambdaContext:
    """The subset of the Lambda context object handlers (and Powertools) use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_body(error_type: str, message: str, stack: list[str] | None = None) -> str:
    """Lambda's function-error payload: ``{"errorType", "errorMessage"[, "stackTrace"]}``."""
    body: dict[str, Any] = {"errorType": error_type, "errorMessage": message}
    if stack is not None:
        body["stackTrace"] = stack
    return json.dumps(body)


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


_REQUEST_ID = _RequestIdFilter()


def _setup_logging() -> None:
    """The root logger as the Lambda Python runtime sets it up: one handler on stdout in Lambda's text
    format, at the level of ``AWS_LAMBDA_LOG_LEVEL`` if the function sets it, else Python's default
    WARNING (so libraries' INFO lines, such as botocore's "Found credentials", stay out). Loggers with
    their own handler, like Powertools' JSON logger, are not affected."""
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_REQUEST_ID)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "WARNING").upper())


def _exit_with_parent(parent_pid: int) -> None:
    """End this process when the local world's process is gone, even in the middle of a handler."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_INTERVAL_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _load_handler(path: str) -> Any:
    module_name, _, function_name = path.rpartition(".")
    module = importlib.import_module(module_name)
    return getattr(module, function_name)


def _init_error(path: str, exc: BaseException) -> dict[str, Any]:
    module_name, _, function_name = path.rpartition(".")
    if isinstance(exc, AttributeError):
        error_type, message = (
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    elif isinstance(exc, ImportError | SyntaxError):
        error_type, message = "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
    else:
        error_type, message = type(exc).__name__, str(exc)
    return {"ready": False, "errorType": error_type, "errorMessage": message}


def _invoke(handler: Any, init: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    context = LambdaContext(
        function_name=init["function_name"],
        invoked_function_arn=init["function_arn"],
        memory_limit_in_mb=init["memory_mb"],
        timeout_s=init["timeout_s"],
        aws_request_id=request["request_id"],
        log_group_name=f"/aws/lambda/{init['function_name']}",
        _deadline=time.monotonic() + init["timeout_s"],
    )
    try:
        result = handler(json.loads(request["payload"]), context)
    except Exception as exc:
        # The Lambda Python runtime logs the error, then answers with it.
        print(f"[ERROR] {type(exc).__name__}: {exc}", flush=True)
        return {
            "ok": False,
            "payload": error_body(type(exc).__name__, str(exc), traceback.format_exception(exc)),
        }
    try:
        return {"ok": True, "payload": json.dumps(result)}
    except (TypeError, ValueError) as exc:
        return {
            "ok": False,
            "payload": error_body("Runtime.MarshalError", f"Unable to marshal response: {exc}"),
        }


def main(argv: list[str]) -> int:
    conn = Connection(int(argv[1]))
    init = json.loads(conn.recv_bytes())
    # Run as a script, sys.path[0] is this directory: replace the path with the parent's, so the
    # handler imports what the local world's process would import.
    sys.path[:] = list(dict.fromkeys([*init["sys_path"], *sys.path[1:]]))
    _exit_with_parent(init["parent_pid"])
    _setup_logging()
    try:
        handler = _load_handler(init["handler"])
    except Exception as exc:
        traceback.print_exc()
        conn.send_bytes(json.dumps(_init_error(init["handler"], exc)).encode())
        return 1
    conn.send_bytes(b'{"ready": true}')
    marker = f"\0{init['token']}"
    while True:
        try:
            request = json.loads(conn.recv_bytes())
        except EOFError:
            return 0
        _REQUEST_ID.request_id = request["request_id"]
        outcome = _invoke(handler, init, request)
        sys.stdout.flush()
        sys.stderr.flush()
        print(f"{marker} {request['request_id']}", flush=True)
        conn.send_bytes(json.dumps(outcome).encode())


if __name__ == "__main__":
    sys.exit(main(sys.argv))
