"""A local "AWS" for claimsync: moto in server mode, executing real ASL, with Lambdas run in-process.

`start_local_aws()` starts moto's threaded server on a loopback port inside the calling process,
switches on moto's Step Functions interpreter (`execute_state_machine`) and its Docker-free Lambda
backend, and installs three narrow, reversible patches on moto 5.2.5:

* `LambdaSimpleBackend.invoke` -- a function registered with `LocalAws.register_function` runs its
  Python handler: in a pool of worker processes under the function's memory size and timeout, as
  Lambda runs it (`local/aws/pool.py`), or -- for a handler given as a Python callable, which tests
  use -- in this process. This one seam serves `arn:aws:states:::lambda:invoke` tasks, plain
  function-ARN tasks and direct `lambda.invoke` calls from any boto3 client (the interpreter itself
  calls Lambda over HTTP through the server). Unregistered functions keep moto's behaviour.
* `RetrierDecl` (module attribute `time`) -- the pause between Retry attempts is scaled down.
* `WaitFunction._wait_interval` -- every Wait state (Seconds, SecondsPath, Timestamp, TimestampPath)
  is scaled down.

Everything else (S3, DynamoDB, Secrets Manager, Step Functions) is plain moto, reachable with plain
boto3 through `endpoint_url`, from this process or any other one on the machine.

moto's backends and these patches are process-global, so one `LocalAws` may run per process at a
time; `stop()` stops running executions, resets moto's state, and undoes every patch.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import logging
import os
import re
import threading
import time
import traceback
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any, TextIO, cast

import boto3
from botocore.client import BaseClient
from botocore.config import Config

from local.aws import paging
from local.aws.lambda_worker import LambdaContext, error_body
from local.aws.pool import FunctionConfig, FunctionPool, Outcome, Report

Handler = Callable[[dict[str, Any], Any], Any]
"""A Lambda handler: `(event, context) -> JSON-serialisable result`."""

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"  # noqa: S105 -- moto accepts any credentials
LAMBDA_ROLE_NAME = "claimsync-local-lambda"

_MOTO_CONFIG: dict[str, dict[str, bool]] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
_RUNNING_STATUSES = frozenset({"RUNNING", "PENDING_REDRIVE"})
# Worker processes per function: one per core lets the Map over pages use every core (measured in
# local/aws/README.md, "Pool size"); only a concurrently invoked function ever grows past one.
DEFAULT_POOL_SIZE = os.cpu_count() or 2
LAMBDA_LOGGER = "local.aws.lambda"
"""Every line a function writes (its stdout and stderr) and every REPORT line, prefixed with the
function's name, is logged at INFO on this logger. `claimsync local up` prints it on stderr."""
_REPORTS_KEPT = 100_000
_ACTIVE_LOCK = threading.Lock()
_active: LocalAws | None = None


# --------------------------------------------------------------------------------------------------
# Lambda emulation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Function:
    config: FunctionConfig
    handler: Handler | None  # a callable runs in this process; None: in the function's worker pool
    pool: FunctionPool | None

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class SleepRecord:
    """One pause the interpreter asked for (`kind` is "wait" or "retry") and what it really slept."""

    kind: str
    requested_s: float
    slept_s: float


def aws_timestamp(moment: datetime.datetime) -> str:
    """The context-object timestamp format of AWS: UTC, milliseconds, `Z` (2024-01-02T03:04:05.678Z)."""
    utc = moment.astimezone(datetime.UTC) if moment.tzinfo else moment
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")


def parse_rfc3339(text: Any) -> datetime.datetime | None:
    """An RFC 3339 timestamp (uppercase T, `Z` or numeric offset, any fraction) as aware UTC; else None."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    micro = (fraction or "").ljust(6, "0")[:6]
    offset = "+00:00" if zone == "Z" else zone
    try:
        return datetime.datetime.fromisoformat(f"{whole}.{micro}{offset}").astimezone(datetime.UTC)
    except ValueError:
        return None


class _AwsIsoDatetime(datetime.datetime):
    """`datetime` whose isoformat() is AWS's context-object format (used for `$$.State.EnteredTime`)."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return aws_timestamp(self)


def _function_name(name_or_arn: str) -> str:
    """`name`, `name:qualifier`, `acct:function:name` or a full ARN -> `name`."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":")[6]
    parts = name_or_arn.split(":")
    if len(parts) >= 3 and parts[1] == "function":  # partial ARN: 123456789012:function:name
        return parts[2]
    return parts[0]


def _error_payload(error_type: str, message: str, stack: list[str] | None = None) -> bytes:
    return error_body(error_type, message, stack).encode()


# --------------------------------------------------------------------------------------------------
# The runtime
# --------------------------------------------------------------------------------------------------


class LocalAws:
    """A running local AWS. Create it with `start_local_aws()`; call `stop()` when done."""

    region: str = REGION
    account_id: str = ACCOUNT_ID

    def __init__(
        self,
        *,
        endpoint_url: str,
        time_scale: float,
        max_sleep_s: float,
        pool_size: int = DEFAULT_POOL_SIZE,
        real_time_waits: frozenset[str] = frozenset(),
    ) -> None:
        self.endpoint_url = endpoint_url
        self.time_scale = time_scale
        self.max_sleep_s = max_sleep_s
        self.real_time_waits = real_time_waits
        self.pool_size = pool_size
        self._functions: dict[str, _Function] = {}
        self._invocations: dict[str, int] = {}
        self._sleeps: list[SleepRecord] = []
        self._reports: deque[Report] = deque(maxlen=_REPORTS_KEPT)
        self._lambda_log = logging.getLogger(LAMBDA_LOGGER)
        self._lock = threading.Lock()
        self._undo: list[Callable[[], None]] = []
        self._server: _Server | None = None
        self._stopped = False

    # -- public API ---------------------------------------------------------------------------------

    def client(self, service: str) -> BaseClient:
        """A boto3 client for `service` bound to this endpoint, with dummy credentials."""
        session = boto3.session.Session(
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            region_name=self.region,
        )
        return session.client(
            service,
            endpoint_url=self.endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 2}, read_timeout=120),
        )

    def handler_environment(self) -> dict[str, str]:
        """Environment a handler's boto3 clients need to reach this local AWS.

        boto3 >= 1.28 honours `AWS_ENDPOINT_URL` for every service; the credentials are dummies
        moto accepts. Apply it with `os.environ.update(...)` before handlers create their clients.
        """
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }

    def register_function(
        self,
        name: str,
        handler: Handler | str,
        *,
        timeout_s: int = 60,
        memory_mb: int = 512,
        environment: dict[str, str] | None = None,
    ) -> str:
        """Create Lambda function `name` in moto and run its invocations with `handler`.

        `handler` as a dotted path (`"handlers.check_report.handler"`) runs as Lambda runs it: in
        worker processes (up to `pool_size`, reused while warm) under `memory_mb` and `timeout_s`,
        with `environment` (the function's environment variables) on top of this process's
        environment and `handler_environment()`. A callable runs in this process, in a thread, with
        the timeout but no memory limit -- for tests that need to share state with their handler.

        Returns the function ARN (use it in the ASL). Re-registering a name replaces the handler and
        ends the function's warm workers.
        """
        variables = dict(environment or {})
        lam = self.client("lambda")
        existing = None
        with contextlib.suppress(lam.exceptions.ResourceNotFoundException):
            existing = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        settings: dict[str, Any] = {"Timeout": timeout_s, "MemorySize": memory_mb}
        if variables:
            settings["Environment"] = {"Variables": variables}
        if existing is None:
            arn: str = lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=self._lambda_role_arn(),
                Handler=handler if isinstance(handler, str) else "index.handler",
                Code={"ZipFile": _placeholder_zip()},
                **settings,
            )["FunctionArn"]
        else:
            arn = existing
            lam.update_function_configuration(FunctionName=name, **settings)
        config = FunctionConfig(
            name=name,
            arn=arn,
            handler=handler if isinstance(handler, str) else "",
            memory_mb=memory_mb,
            timeout_s=timeout_s,
            environment=variables,
        )
        if isinstance(handler, str):
            pool = FunctionPool(
                config, self.pool_size, lambda: self._worker_environment(name), self._log_line
            )
            function = _Function(config, None, pool)
        else:
            function = _Function(config, handler, None)
        with self._lock:
            replaced = self._functions.get(name)
            self._functions[name] = function
            self._invocations.setdefault(name, 0)
        if replaced is not None and replaced.pool is not None:
            replaced.pool.stop()
        return arn

    def update_function_environment(self, name: str, environment: dict[str, str]) -> None:
        """Replace function `name`'s environment variables, as UpdateFunctionConfiguration does: its
        warm workers are ended, and the next invocations start new ones with the new environment.
        The same variables again change nothing: the warm workers stay."""
        function = self._lookup(name)
        if function is None:
            raise KeyError(f"no function {name!r} is registered")
        if function.config.environment == environment:
            return
        config = replace(function.config, environment=dict(environment))
        self.client("lambda").update_function_configuration(
            FunctionName=name, Environment={"Variables": config.environment}
        )
        with self._lock:
            self._functions[name] = replace(function, config=config)
        if function.pool is not None:
            function.pool.reconfigure(config)

    def reports(self) -> list[Report]:
        """The REPORT of every invocation since start (the last 100,000), oldest first."""
        with self._lock:
            return list(self._reports)

    def workers(self) -> dict[str, list[int]]:
        """Process ids of each pooled function's live workers (its warm or busy execution environments)."""
        with self._lock:
            pools = {name: f.pool for name, f in self._functions.items() if f.pool is not None}
        return {name: pool.pids() for name, pool in pools.items()}

    def warm(self) -> threading.Thread:
        """Start one execution environment for each pooled function, one function after another on a
        background thread (returned), as ``sam local start-lambda --warm-containers EAGER`` does. An
        invocation meanwhile waits for nothing: with no idle worker it starts its own, as before."""
        with self._lock:
            pools = [f.pool for f in self._functions.values() if f.pool is not None]

        def warm_all() -> None:
            for pool in pools:
                if self._stopped:
                    return
                pool.warm()

        thread = threading.Thread(target=warm_all, name="lambda-warm", daemon=True)
        thread.start()
        return thread

    def invocations(self) -> dict[str, int]:
        """How many times each registered function has been invoked (retries included)."""
        with self._lock:
            return dict(self._invocations)

    def sleeps(self) -> list[SleepRecord]:
        """Every Wait/Retry pause the interpreter asked for since start, with what was really slept."""
        with self._lock:
            return list(self._sleeps)

    def scaled(self, seconds: float) -> float:
        return max(0.0, min(seconds * self.time_scale, self.max_sleep_s))

    def stop(self) -> None:
        """Stop running executions and the server, reset moto's state and undo every patch."""
        global _active
        if self._stopped:
            return
        self._stopped = True
        try:
            self._stop_running_executions()
        finally:
            with self._lock:
                pools = [f.pool for f in self._functions.values() if f.pool is not None]
            for pool in pools:
                pool.stop()
            if self._server is not None:
                self._server.stop()
            from moto.moto_api._internal.models import moto_api_backend

            moto_api_backend.reset()
            for undo in reversed(self._undo):
                undo()
            self._undo.clear()
            with _ACTIVE_LOCK:
                _active = None

    def __enter__(self) -> LocalAws:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- Lambda dispatch ----------------------------------------------------------------------------

    def _lambda_role_arn(self) -> str:
        iam = self.client("iam")
        try:
            role: str = iam.get_role(RoleName=LAMBDA_ROLE_NAME)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            role = iam.create_role(
                RoleName=LAMBDA_ROLE_NAME,
                AssumeRolePolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                ),
            )["Role"]["Arn"]
        return role

    def _lookup(self, function_name: str) -> _Function | None:
        with self._lock:
            return self._functions.get(_function_name(function_name))

    def _worker_environment(self, name: str) -> dict[str, str]:
        """A new worker's environment: this process's, the endpoint and dummy credentials, Lambda's
        reserved variables, then the function's own (current) environment variables."""
        function = self._lookup(name)
        config = function.config if function is not None else None
        reserved = {}
        if config is not None:
            reserved = {
                "AWS_LAMBDA_FUNCTION_NAME": config.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "local",
                "_HANDLER": config.handler,
            }
        variables = config.environment if config is not None else {}
        return {**os.environ, **self.handler_environment(), **reserved, **variables}

    def _log_line(self, function_name: str, line: str) -> None:
        self._lambda_log.info("%s %s", function_name, line)

    def _invoke(self, fn: _Function, body: Any, headers: Any, response_headers: dict[str, str]) -> bytes:
        """Run `fn` like the Lambda service would, answering in the service's wire format."""
        invocation_type = (headers or {}).get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return b""
        raw = body.decode() if isinstance(body, bytes) else (body or "")
        try:
            event = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            return _error_payload("Runtime.UserCodeSyntaxError", f"Invalid JSON payload: {exc}")
        with self._lock:
            self._invocations[fn.name] = self._invocations.get(fn.name, 0) + 1
        if invocation_type == "Event":
            threading.Thread(target=self._run, args=(fn, event), daemon=True).start()
            return b""
        outcome = self._run(fn, event)
        if outcome.failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        return outcome.payload

    def _run(self, fn: _Function, event: Any) -> Outcome:
        """One invocation, in the function's worker pool or in-process; its REPORT line is logged."""
        request_id = str(uuid.uuid4())
        if fn.pool is not None:
            outcome = fn.pool.invoke(request_id, json.dumps(event))
        else:
            outcome = self._run_in_process(fn, event, request_id)
        with self._lock:
            self._reports.append(outcome.report)
        self._lambda_log.info("%s", outcome.report.line())
        return outcome

    def _run_in_process(self, fn: _Function, event: Any, request_id: str) -> Outcome:
        """Run a callable handler in its own thread so a handler that overruns its timeout cannot hang
        the caller; the overrunning thread is abandoned (it cannot be killed) and reported as
        `Sandbox.Timedout`. No memory limit or peak: the handler shares this process."""
        c = fn.config
        assert fn.handler is not None
        handler = fn.handler
        context = LambdaContext(
            function_name=c.name,
            invoked_function_arn=c.arn,
            memory_limit_in_mb=c.memory_mb,
            timeout_s=c.timeout_s,
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{c.name}",
            _deadline=time.monotonic() + c.timeout_s,
        )
        outcome: list[tuple[bytes, bool]] = []

        def run() -> None:
            try:
                result = handler(event, context)
            except Exception as exc:
                stack = traceback.format_exception(exc)
                outcome.append((_error_payload(type(exc).__name__, str(exc), stack), True))
                return
            try:
                outcome.append((json.dumps(result).encode(), False))
            except (TypeError, ValueError) as exc:
                message = f"Unable to marshal response: {exc}"
                outcome.append((_error_payload("Runtime.MarshalError", message), True))

        started = time.monotonic()
        worker = threading.Thread(target=run, name=f"lambda-{c.name}", daemon=True)
        worker.start()
        worker.join(c.timeout_s)
        duration_ms = (time.monotonic() - started) * 1000
        if not outcome:
            message = f"RequestId: {request_id} Error: Task timed out after {c.timeout_s:.2f} seconds"
            report = Report(c.name, request_id, duration_ms, c.memory_mb, None, status="timeout")
            return Outcome(_error_payload("Sandbox.Timedout", message), True, report)
        payload, failed = outcome[0]
        return Outcome(payload, failed, Report(c.name, request_id, duration_ms, c.memory_mb, None))

    # -- start/stop helpers -------------------------------------------------------------------------

    def _record_sleep(self, kind: str, requested_s: float, *, real_time: bool = False) -> float:
        slept = float(requested_s) if real_time else self.scaled(requested_s)
        with self._lock:
            self._sleeps.append(SleepRecord(kind, float(requested_s), slept))
        return slept

    def _install_patches(self) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.core.config import default_user_config
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
            WaitFunction,
        )

        runtime = self

        # moto configuration (what `POST /moto-api/config` sets), restored on stop.
        config = cast(dict[str, Any], default_user_config)  # a TypedDict in moto, used as a dict
        saved_config = {key: config.get(key) for key in _MOTO_CONFIG}
        for key, value in _MOTO_CONFIG.items():
            config[key] = dict(value)

        def restore_config() -> None:
            for key, value in saved_config.items():
                if value is None:
                    config.pop(key, None)
                else:
                    config[key] = value

        self._undo.append(restore_config)

        # Lambda: registered functions run in-process, the rest keep moto's behaviour.
        original_invoke = vars(LambdaSimpleBackend)["invoke"]

        def invoke(
            backend: LambdaSimpleBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> str | bytes | None:
            fn = runtime._lookup(function_name)
            if fn is None:
                result: str | bytes | None = original_invoke(
                    backend, function_name, qualifier, body, headers, response_headers
                )
                return result
            return runtime._invoke(fn, body, headers, response_headers)

        self._patch(LambdaSimpleBackend, "invoke", invoke)

        # Retry intervals: retrier_decl calls `time.sleep(interval)`; give it a scaled `time`.
        original_time = vars(retrier_decl)["time"]

        class _ScaledTime:
            def __getattr__(self, name: str) -> Any:
                return getattr(original_time, name)

            @staticmethod
            def sleep(seconds: float) -> None:
                original_time.sleep(runtime._record_sleep("retry", seconds))

        self._patch(retrier_decl, "time", _ScaledTime())

        # Wait states: moto waits on the execution's program-state event (so StopExecution still
        # interrupts). The original loop re-waits on whole seconds, so it is replaced, not wrapped.
        # A state named in `real_time_waits` sleeps what it asks: its seconds were computed from the
        # measured progress of an emulator that works in real time (Bulk jobs), so scaling them down
        # would only turn one well-timed poll into dozens.
        def wait_interval(self: WaitFunction, env: Any, wait_seconds: int) -> None:
            state = env.states.context_object.context_object_data["State"]["Name"]
            real_time = state in runtime.real_time_waits
            slept = runtime._record_sleep("wait", max(0, wait_seconds), real_time=real_time)
            until = time.monotonic() + slept
            while env.is_running():  # an unrelated wake-up (another branch's event) waits on
                left = until - time.monotonic()
                if left <= 0:
                    return
                env.program_state_event.wait(left)

        self._patch(WaitFunction, "_wait_interval", wait_interval)
        self._share_interpreter_clients()

    def _install_fidelity_fixes(self) -> None:
        """Make moto's context-object timestamps and Choice timestamp comparisons behave like AWS.

        moto 5.2.5 keeps `$$.Execution.StartTime` as a Python datetime (passing it to a Lambda fails
        the state with States.Runtime "Object of type datetime is not JSON serializable"; putting
        it in the execution output makes DescribeExecution answer HTTP 500), writes
        `$$.State.EnteredTime` as `...+00:00` with microseconds, and its Timestamp* comparisons
        accept only `YYYY-MM-DDTHH:MM:SSZ` (no fractional seconds, no offset) -- so a timestamp
        from the context object never compares. AWS uses `2024-01-02T03:04:05.678Z` and compares
        any RFC 3339 timestamp.
        """
        from moto.stepfunctions.parser.asl.component.state import state as state_module
        from moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations import (
            is_operator,
        )
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

        original_env = vars(ExecutionWorker)["_get_evaluation_environment"]

        def evaluation_environment(worker: Any) -> Any:
            env = original_env(worker)
            execution = env.states.context_object.context_object_data["Execution"]
            start = execution.get("StartTime")
            if isinstance(start, datetime.datetime):
                execution["StartTime"] = aws_timestamp(start)
            return env

        self._patch(ExecutionWorker, "_get_evaluation_environment", evaluation_environment)
        # state.py only uses `datetime.datetime.now(tz=datetime.timezone.utc).isoformat()`, for EnteredTime.
        self._patch(
            state_module, "datetime", SimpleNamespace(datetime=_AwsIsoDatetime, timezone=datetime.timezone)
        )
        self._patch(is_operator.IsTimestamp, "string_to_timestamp", staticmethod(parse_rfc3339))
        self._fix_stop_as_a_task_starts()
        paging.install(self._patch)  # GetExecutionHistory pages as in AWS

    def _share_interpreter_clients(self) -> None:
        """moto's interpreter builds a new boto3 client for every Task it runs (Lambda, DynamoDB): about
        20 ms of this process's CPU each, 280 Lambda tasks in a 1M-claim run. One client per region and
        service is kept and shared (boto3 clients are thread-safe), as an AWS SDK is used. (moto's
        ``boto_client_for`` signs every client with the same test keys whatever the state's
        credentials, so sharing changes nothing but the cost.)"""
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_dynamodb,
        )
        from moto.stepfunctions.parser.asl.utils import boto_client

        build = boto_client.boto_client_for
        lock = threading.Lock()
        clients: dict[tuple[str, str], Any] = {}

        def shared(region: str, service: str, state_credentials: Any = None) -> Any:
            with lock:
                if (region, service) not in clients:
                    clients[(region, service)] = build(region=region, service=service)
                return clients[(region, service)]

        for module in (lambda_eval_utils, state_task_service_dynamodb):
            self._patch(module, "boto_client_for", shared)

    def _fix_stop_as_a_task_starts(self) -> None:
        """A StopExecution (or the overall timeout) that lands as a Task starts. Once the execution is
        stopped moto skips every evaluation, but a Task's start still pops what its evaluations would
        have pushed: its ``TimeoutSeconds`` pop records the Task's parameters as ``timeoutInSeconds``
        (GetExecutionHistory of that execution then answers HTTP 500 for good), and a later pop
        raises, which turned the ABORTED execution into a FAILED one. Here a skipped TimeoutSeconds
        still leaves its value, and an error no longer overrides a stop or a timeout (as in AWS,
        the first end is the end)."""
        from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
        from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
        from moto.stepfunctions.parser.asl.eval.environment import Environment
        from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped, ProgramTimedOut

        def timeout_eval(component: Any, env: Any) -> None:
            if env.is_running():
                EvalComponent.eval(component, env)
            else:
                env.stack.append(component.timeout_seconds)

        TimeoutSeconds.eval = timeout_eval  # type: ignore[method-assign,assignment]
        self._undo.append(lambda: delattr(TimeoutSeconds, "eval"))

        original_set_error = vars(Environment)["set_error"]

        def set_error(env: Any, error: Any) -> None:
            if not isinstance(env.program_state(), ProgramStopped | ProgramTimedOut):
                original_set_error(env, error)

        self._patch(Environment, "set_error", set_error)

    def _patch(self, owner: Any, attribute: str, replacement: Any) -> None:
        """Replace `owner.attribute` (a class or module attribute) until stop()."""
        original = vars(owner)[attribute]
        setattr(owner, attribute, replacement)
        self._undo.append(lambda: setattr(owner, attribute, original))

    def _quiet_logger(self, name: str) -> None:
        logger = logging.getLogger(name)
        saved_level = logger.level
        logger.setLevel(logging.CRITICAL)
        self._undo.append(lambda: logger.setLevel(saved_level))

    def _start_server(self, port: int, access_log: bool) -> None:
        self._server = _Server(port, access_log)
        bound_port = self._server.start()
        self.endpoint_url = f"http://127.0.0.1:{bound_port}"
        # The interpreter's own boto3 clients call http://localhost:$MOTO_PORT.
        saved_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(bound_port)

        def restore_port() -> None:
            if saved_port is None:
                os.environ.pop("MOTO_PORT", None)
            else:
                os.environ["MOTO_PORT"] = saved_port

        self._undo.append(restore_port)

    def _stop_running_executions(self) -> None:
        if self._server is None:
            return
        sfn = self.client("stepfunctions")
        for machine in sfn.list_state_machines()["stateMachines"]:
            running = sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")[
                "executions"
            ]
            for execution in running:
                sfn.stop_execution(executionArn=execution["executionArn"], cause="local AWS stopped")


class _Server:
    """moto's server app on werkzeug's threaded server, like `moto.server.ThreadedMotoServer` but
    bound to loopback and without the per-request access log. Each request gets its own thread, so a
    handler running inside one request (a Lambda invoked by the interpreter) can call back into the
    server (S3, DynamoDB, ...) without deadlocking."""

    def __init__(self, port: int, access_log: bool) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        class RequestHandler(MotoRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                if access_log:
                    super().log_request(code, size)

        self._wsgi = make_server(
            "127.0.0.1",
            port,
            paging.caching_dispatcher(create_backend_app),
            threaded=True,
            request_handler=RequestHandler,
        )
        self._thread = threading.Thread(target=self._wsgi.serve_forever, name="moto-server", daemon=True)

    def start(self) -> int:
        self._thread.start()
        return int(self._wsgi.server_address[1])

    def stop(self) -> None:
        self._wsgi.shutdown()
        self._wsgi.server_close()
        self._thread.join()


def _placeholder_zip() -> bytes:
    """The code moto stores for a function; never executed (invocations run the Python handler)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    raise NotImplementedError\n")
    return buffer.getvalue()


def start_local_aws(
    *,
    port: int = 0,
    time_scale: float = 0.01,
    max_sleep_s: float = 0.05,
    access_log: bool = False,
    interpreter_log: bool = False,
    fidelity_fixes: bool = True,
    pool_size: int = DEFAULT_POOL_SIZE,
    real_time_waits: frozenset[str] = frozenset(),
) -> LocalAws:
    """Start moto in server mode on 127.0.0.1:`port` (0 = any free port) inside this process.

    Wait states and Retry intervals sleep `min(seconds * time_scale, max_sleep_s)`.
    `access_log` prints werkzeug's line per HTTP request to stderr. `interpreter_log` keeps moto's
    interpreter logging, which logs every task error at ERROR level -- even ones a Retry or Catch
    handles -- once per enclosing component, with state data in it; off, only CRITICAL gets through
    (the execution history still carries every error and cause). `fidelity_fixes` corrects moto's
    context-object timestamps and Choice timestamp parsing to AWS behaviour (see README.md); turn it
    off only to observe raw moto. `pool_size` is the most worker processes (execution environments)
    each function registered by dotted path runs at once. Wait states named in `real_time_waits` are
    not scaled: they sleep the seconds they ask (still interrupted by StopExecution).
    """
    global _active
    with _ACTIVE_LOCK:
        if _active is not None:
            raise RuntimeError("a LocalAws is already running in this process; stop() it first")
        runtime = LocalAws(
            endpoint_url="",
            time_scale=time_scale,
            max_sleep_s=max_sleep_s,
            pool_size=pool_size,
            real_time_waits=real_time_waits,
        )
        _active = runtime
    try:
        runtime._install_patches()
        if fidelity_fixes:
            runtime._install_fidelity_fixes()
        if not interpreter_log:
            runtime._quiet_logger("moto.stepfunctions.parser")
        runtime._start_server(port, access_log)
    except BaseException:
        runtime.stop()
        raise
    return runtime


def print_lambda_logs(stream: TextIO) -> None:
    """Write every function's log lines and REPORT lines (the `LAMBDA_LOGGER` records, each prefixed
    with the function's name) to `stream`, as they happen. `claimsync local up` uses stderr."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    lambda_log = logging.getLogger(LAMBDA_LOGGER)
    lambda_log.addHandler(handler)
    lambda_log.setLevel(logging.INFO)
    lambda_log.propagate = False


# --------------------------------------------------------------------------------------------------
# Execution helpers (work against any Step Functions endpoint, local or real)
# --------------------------------------------------------------------------------------------------


def _history(client: BaseClient, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = client.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _maybe_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def execution_summary(client: BaseClient, execution_arn: str) -> dict[str, Any]:
    """Status, output or error/cause, and what the execution did, from `describe_execution` and the
    history.

    - `states_entered`: names of the states entered, in history order (Map iterations and Parallel
      branches included).
    - `state_transitions`: what AWS bills for a Standard workflow -- one per state entered plus one
      per retry attempt (a retry re-runs the state without a new `StateEntered` event; it is
      counted from the extra `*Scheduled`/`*Started` task events inside one state entry).
    - `history_event_count`: number of history events (the 25,000 per execution limit counts these).
    """
    described = client.describe_execution(executionArn=execution_arn)
    events = _history(client, execution_arn)
    entered = [e for e in events if e["type"].endswith("StateEntered")]
    retries = _count_retries(events)
    start, stop = described.get("startDate"), described.get("stopDate")
    return {
        "execution_arn": execution_arn,
        "name": described.get("name"),
        "status": described["status"],
        "output": _maybe_json(described.get("output")),
        "error": described.get("error"),
        "cause": described.get("cause"),
        "start_date": start.isoformat() if start else None,
        "stop_date": stop.isoformat() if stop else None,
        "duration_s": (stop - start).total_seconds() if start and stop else None,
        "states_entered": [e["stateEnteredEventDetails"]["name"] for e in entered],
        "state_transitions": len(entered) + retries,
        "retries": retries,
        "history_event_count": len(events),
    }


_TASK_START_TYPES = ("LambdaFunctionScheduled", "TaskScheduled", "ActivityScheduled")


def _count_retries(events: list[dict[str, Any]]) -> int:
    """Task attempts beyond the first within one state entry. Each scheduling event is attributed to
    the state entry it descends from through `previousEventId` (which keeps Map iterations and
    Parallel branches apart)."""
    by_id = {e["id"]: e for e in events}
    attempts: dict[int, int] = {}
    for event in events:
        if event["type"] not in _TASK_START_TYPES:
            continue
        cursor: dict[str, Any] | None = event
        while cursor is not None and not cursor["type"].endswith("StateEntered"):
            cursor = by_id.get(cursor.get("previousEventId", 0))
        if cursor is not None:
            attempts[cursor["id"]] = attempts.get(cursor["id"], 0) + 1
    return sum(n - 1 for n in attempts.values() if n > 1)


def wait_for_execution(
    client: BaseClient, execution_arn: str, *, deadline_s: float, poll_interval_s: float = 0.05
) -> dict[str, Any]:
    """Poll `describe_execution` until the execution leaves RUNNING; TimeoutError past the deadline."""
    give_up = time.monotonic() + deadline_s
    while True:
        described: dict[str, Any] = client.describe_execution(executionArn=execution_arn)
        if described["status"] not in _RUNNING_STATUSES:
            return described
        if time.monotonic() >= give_up:
            raise TimeoutError(f"execution still {described['status']} after {deadline_s} s: {execution_arn}")
        time.sleep(poll_interval_s)


def follow_execution(
    client: BaseClient, execution_arn: str, *, deadline_s: float, poll_interval_s: float = 0.1
) -> Iterator[dict[str, Any]]:
    """Yield history events as they appear, in order, until the execution ends (then stop) or the
    deadline passes (then TimeoutError). Each event is yielded once.

    Step Functions has no "events since" query, so each poll re-reads the history and yields events
    with ids above the last one seen (moto returns the whole history in one page anyway).
    """
    give_up = time.monotonic() + deadline_s
    last_id = 0
    while True:
        status = client.describe_execution(executionArn=execution_arn)["status"]
        for event in _history(client, execution_arn):
            if event["id"] > last_id:
                last_id = event["id"]
                yield event
        if status not in _RUNNING_STATUSES:
            return
        if time.monotonic() >= give_up:
            raise TimeoutError(f"execution still {status} after {deadline_s} s: {execution_arn}")
        time.sleep(poll_interval_s)
