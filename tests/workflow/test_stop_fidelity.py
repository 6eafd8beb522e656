"""A StopExecution that lands as a Task starts leaves a readable history (a LocalAws fidelity fix).

moto 5.2.5 evaluates a Task's ``TimeoutSeconds`` as it starts (push, then pop). Once the execution
is stopped it skips every evaluation, but the pop still happens: the Task's parameters are recorded
as ``timeoutInSeconds``, and GetExecutionHistory of that execution answers HTTP 500 from then on --
which left AbnormalEnd unable to read the history of a run stopped at that instant. The test puts the
stop at that instant deterministically: inside the Task's parameter evaluation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.aws import LocalAws, wait_for_execution

pytestmark = pytest.mark.workflow

ROLE = "arn:aws:iam::123456789012:role/claimsync-test-sfn"


def test_a_stop_as_a_task_starts_leaves_a_readable_history(
    local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )

    function_arn = local_aws.register_function("stop-race", lambda event, context: {"ok": True})
    sfn = local_aws.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="stop-as-a-task-starts",
        definition=json.dumps(
            {
                "StartAt": "Upload",
                "States": {
                    "Upload": {
                        "Type": "Task",
                        "Resource": function_arn,
                        "TimeoutSeconds": 40,
                        "Parameters": {"page_count": 3},
                        "End": True,
                    }
                },
            }
        ),
        roleArn=ROLE,
    )["stateMachineArn"]
    original = StateTaskLambda._eval_parameters

    def stopped_meanwhile(task: Any, env: Any) -> Any:
        """The operator's StopExecution arrives while the Task evaluates its parameters."""
        parameters = original(task, env=env)
        execution = env.states.context_object.context_object_data["Execution"]["Id"]
        local_aws.client("stepfunctions").stop_execution(executionArn=execution)
        return parameters

    monkeypatch.setattr(StateTaskLambda, "_eval_parameters", stopped_meanwhile)
    arn = sfn.start_execution(stateMachineArn=machine, name="stopped", input="{}")["executionArn"]
    done = wait_for_execution(sfn, arn, deadline_s=30)
    assert done["status"] == "ABORTED", (done.get("error"), done.get("cause"))

    events = sfn.get_execution_history(executionArn=arn)["events"]  # HTTP 500 without the fix
    scheduled = [
        e["lambdaFunctionScheduledEventDetails"] for e in events if e["type"] == "LambdaFunctionScheduled"
    ]
    assert [s.get("timeoutInSeconds", 40) for s in scheduled] == [40] * len(scheduled)
    assert events[-1]["type"] == "ExecutionAborted"
