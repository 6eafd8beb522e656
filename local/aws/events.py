"""EventBridge for the local AWS: "Step Functions Execution Status Change" events, delivered to a Lambda.

In AWS, Step Functions sends an event to EventBridge whenever a Standard execution changes status,
and a rule sends the matching ones to a target. moto emits no such events, so an
``ExecutionStatusRule`` does it for the local AWS: when an execution of a watched state machine
ends with a watched status, it builds the event EventBridge would send (same ``detail-type``,
``source`` and ``detail`` fields) and invokes the target Lambda with it, asynchronously and with
retries, as EventBridge -> Lambda does.

The seam is moto's execution-termination callback (``BaseExecutionWorkerCommunication.terminated``,
moto 5.2.5), which runs in the execution's worker thread once its final status is set. It is
patched while a rule is started and restored by ``stop()``. One rule per process at a time (moto's
state is process-global, like ``LocalAws``).

Differences from AWS, all on the side of determinism: delivery is immediate (AWS: usually under a
second, best effort); an execution stopped during a Lambda task ends (and is delivered) only when
that task returns, because moto does not abandon the running task as AWS does; and events are
delivered only for executions run by moto's interpreter (not by Step Functions Local).
"""

from __future__ import annotations

import datetime
import json
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from local.aws.runtime import ACCOUNT_ID, REGION, LocalAws

DETAIL_TYPE = "Step Functions Execution Status Change"
RETRY_PAUSES_S = (60.0, 120.0)  # Lambda's asynchronous retries (scaled like every local pause)

_ACTIVE_LOCK = threading.Lock()
_active: ExecutionStatusRule | None = None


@dataclass(frozen=True)
class Delivery:
    """One event delivered (or given up on) for an ended execution."""

    execution_arn: str
    status: str
    attempts: int
    ok: bool
    result: Any  # the function's result, or its error payload when ``ok`` is false


def _epoch_ms(moment: datetime.datetime | None) -> int | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
    return int(aware.timestamp() * 1000)


def status_change_event(execution: Any) -> dict[str, Any]:
    """The EventBridge event for a moto execution that has ended, in AWS's shape."""
    stopped = execution.stop_date or datetime.datetime.now(datetime.UTC)
    status = execution.exec_status.value
    output = execution.output if status == "SUCCEEDED" else None
    error, cause = execution.error, execution.cause
    if status == "ABORTED":  # StopExecution's own time, error and cause (moto keeps them here)
        program = execution.exec_worker.env.program_state()
        stopped = getattr(program, "stop_date", None) or stopped
        error, cause = getattr(program, "error", None), getattr(program, "cause", None)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.states",
        "account": ACCOUNT_ID,
        "time": stopped.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [execution.exec_arn],
        "detail": {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine_arn,
            "name": execution.name,
            "status": status,
            "startDate": _epoch_ms(execution.start_date),
            "stopDate": _epoch_ms(stopped),
            "input": json.dumps(execution.input_data),
            "output": None if output is None else json.dumps(output),
            "inputDetails": {"included": True},
            "outputDetails": {"included": True} if output is not None else None,
            "error": error,
            "cause": cause,
        },
    }


class ExecutionStatusRule:
    """Deliver the status-change events of ``state_machine_arns`` with one of ``statuses`` to a Lambda.

    ``wait_for(execution_arn)`` blocks (bounded) until that execution's event was delivered, so a
    test or a caller can act on the target's effects without polling.
    """

    def __init__(
        self,
        aws: LocalAws,
        *,
        function_name: str,
        state_machine_arns: Iterable[str],
        statuses: Iterable[str],
    ) -> None:
        self.aws = aws
        self.function_name = function_name
        self.statuses = frozenset(statuses)
        self._machines = set(state_machine_arns)
        self._deliveries: dict[str, Delivery] = {}
        self._threads: list[threading.Thread] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._undo: Any = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> ExecutionStatusRule:
        global _active
        from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

        with _ACTIVE_LOCK:
            if _active is not None:
                raise RuntimeError("an ExecutionStatusRule is already started in this process")
            _active = self
        original = vars(BaseExecutionWorkerCommunication)["terminated"]
        rule = self

        def terminated(communication: Any) -> None:
            original(communication)
            rule._on_end(communication.execution)

        BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign,assignment]
        self._undo = lambda: setattr(BaseExecutionWorkerCommunication, "terminated", original)
        return self

    def stop(self, *, join_s: float = 30.0) -> None:
        """Stop delivering (executions ending from now on are not delivered) and restore moto."""
        global _active
        self._stopping.set()
        if self._undo is not None:
            self._undo()
            self._undo = None
        for thread in list(self._threads):
            thread.join(join_s)
        with _ACTIVE_LOCK:
            if _active is self:
                _active = None

    def watch(self, state_machine_arn: str) -> None:
        """Also match executions of another state machine (the rule's pattern lists several ARNs)."""
        self._machines.add(state_machine_arn)

    # -- observing ----------------------------------------------------------------------------------

    def deliveries(self) -> list[Delivery]:
        with self._changed:
            return list(self._deliveries.values())

    def wait_for(self, execution_arn: str, *, timeout_s: float) -> Delivery:
        """The delivery for ``execution_arn`` once made; ``TimeoutError`` after ``timeout_s``."""
        with self._changed:
            if not self._changed.wait_for(lambda: execution_arn in self._deliveries, timeout=timeout_s):
                raise TimeoutError(f"no event delivered within {timeout_s} s for {execution_arn}")
            return self._deliveries[execution_arn]

    # -- delivery -----------------------------------------------------------------------------------

    def _on_end(self, execution: Any) -> None:
        if self._stopping.is_set() or execution.state_machine_arn not in self._machines:
            return
        if execution.exec_status is None or execution.exec_status.value not in self.statuses:
            return
        event = status_change_event(execution)
        thread = threading.Thread(
            target=self._deliver, args=(event,), name=f"eventbridge-{execution.name}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _deliver(self, event: dict[str, Any]) -> None:
        """Invoke the target until it succeeds, at most 1 + len(RETRY_PAUSES_S) times."""
        lam = self.aws.client("lambda")
        detail = event["detail"]
        attempts, ok, result = 0, False, None
        for pause in (0.0, *RETRY_PAUSES_S):
            if pause and self._stopping.wait(self.aws.scaled(pause)):
                break
            attempts += 1
            response = lam.invoke(FunctionName=self.function_name, Payload=json.dumps(event).encode())
            result = json.loads(response["Payload"].read() or b"null")
            ok = "FunctionError" not in response
            if ok:
                break
        with self._changed:
            self._deliveries[detail["executionArn"]] = Delivery(
                detail["executionArn"], detail["status"], attempts, ok, result
            )
            self._changed.notify_all()
