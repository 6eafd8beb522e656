"""local/sfn_local.py without Docker: the settings, and the deploy against fake Step Functions clients.

The workflow tests against a real Step Functions Local are tests/sync/test_sfn_local.py (skipped
unless CLAIMSYNC_SFN_LOCAL_ENDPOINT is set).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from local import sfn_local
from local.sfn_local import SfnLocalConfig, SfnLocalError, config_from_env, deploy_to_sfn_local, use_sfn_local
from local.syncrun import aws_client

pytestmark = pytest.mark.unit

MOTO_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:claimsync-claim-sync"
LOCAL_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:claimsync-claim-sync"
DEFINITION = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
CONFIG = SfnLocalConfig(endpoint_url="http://localhost:8083", moto_port=5055)


def endpoints(port: int = 5055) -> dict[str, Any]:
    return {
        "aws": {
            "endpoint_url": f"http://127.0.0.1:{port}",
            "region": "us-east-1",
            "bucket": "b",
            "table": "t",
            "state_machine_arn": MOTO_ARN,
        }
    }


class FakeMoto:
    def describe_state_machine(self, stateMachineArn: str) -> dict[str, Any]:
        assert stateMachineArn == MOTO_ARN
        return {"name": "claimsync-claim-sync", "definition": DEFINITION, "stateMachineArn": MOTO_ARN}


class FakeSfnLocal:
    def __init__(self, existing: bool = False, running: int = 0, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.existing, self.running, self.fail = existing, running, fail

    def list_state_machines(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("list_state_machines", kw))
        if self.fail is not None:
            raise self.fail
        if not kw.get("nextToken"):  # two pages: the machine is on the second
            return {"stateMachines": [{"name": "other", "stateMachineArn": "x"}], "nextToken": "p2"}
        machines = [{"name": "claimsync-claim-sync", "stateMachineArn": LOCAL_ARN}] if self.existing else []
        return {"stateMachines": machines}

    def create_state_machine(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("create_state_machine", kw))
        return {"stateMachineArn": LOCAL_ARN}

    def update_state_machine(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("update_state_machine", kw))
        return {}

    def list_executions(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("list_executions", kw))
        return {"executions": [{"executionArn": f"e{i}"} for i in range(self.running)]}

    def stop_execution(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("stop_execution", kw))
        return {}

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


# ---- settings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env", [{}, {"CLAIMSYNC_SFN_LOCAL_ENDPOINT": ""}, {"CLAIMSYNC_SFN_LOCAL_ENDPOINT": "  "}]
)
def test_unset_means_not_configured(env):
    assert config_from_env(env) is None


def test_configured():
    config = config_from_env(
        {"CLAIMSYNC_SFN_LOCAL_ENDPOINT": "http://localhost:8083/", "CLAIMSYNC_MOTO_PORT": "5055"}
    )
    assert config == CONFIG
    assert config.moto_endpoint == "http://127.0.0.1:5055"
    command = config.docker_command()
    for part in (
        "amazon/aws-stepfunctions-local",
        "--network host",
        "-e LAMBDA_ENDPOINT=http://127.0.0.1:5055",
        "-e DYNAMODB_ENDPOINT=http://127.0.0.1:5055",
        "-e AWS_DEFAULT_REGION=us-east-1",
    ):
        assert part in command


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CLAIMSYNC_SFN_LOCAL_ENDPOINT": "http://localhost:8083"}, "CLAIMSYNC_MOTO_PORT is not"),
        ({"CLAIMSYNC_SFN_LOCAL_ENDPOINT": "localhost:8083", "CLAIMSYNC_MOTO_PORT": "5055"}, "not an http"),
        ({"CLAIMSYNC_SFN_LOCAL_ENDPOINT": "http://localhost:8083", "CLAIMSYNC_MOTO_PORT": "x"}, "not a TCP"),
        ({"CLAIMSYNC_SFN_LOCAL_ENDPOINT": "http://localhost:8083", "CLAIMSYNC_MOTO_PORT": "0"}, "not a TCP"),
    ],
)
def test_half_configured_is_an_error_not_a_skip(env, message):
    with pytest.raises(SfnLocalError, match=message):
        config_from_env(env)


def test_the_workflow_tests_skip_with_the_documented_reason():
    from tests.sync import test_sfn_local

    skip = next(m for m in test_sfn_local.pytestmark if m.name == "skipif")
    assert skip.kwargs["reason"] == sfn_local.SKIP_REASON
    assert "workflow" in {m.name for m in test_sfn_local.pytestmark}


# ---- clients --------------------------------------------------------------------------------------------


def test_aws_client_sends_only_step_functions_to_sfn_local():
    e = endpoints()
    assert aws_client(e, "stepfunctions").meta.endpoint_url == "http://127.0.0.1:5055"
    e["aws"]["stepfunctions_endpoint"] = "http://localhost:8083"
    assert aws_client(e, "stepfunctions").meta.endpoint_url == "http://localhost:8083"
    assert aws_client(e, "dynamodb").meta.endpoint_url == "http://127.0.0.1:5055"
    assert aws_client(e, "s3").meta.endpoint_url == "http://127.0.0.1:5055"


def test_sfn_local_client():
    client = sfn_local.sfn_local_client(CONFIG)
    assert client.meta.endpoint_url == "http://localhost:8083" and client.meta.region_name == "us-east-1"


# ---- deploy ----------------------------------------------------------------------------------------------


def test_deploy_creates_the_same_definition_in_sfn_local():
    fake = FakeSfnLocal()
    aws = deploy_to_sfn_local(endpoints(), CONFIG, client=fake, moto_client=FakeMoto())
    created = dict(fake.calls)["create_state_machine"]
    assert created["name"] == "claimsync-claim-sync" and created["definition"] == DEFINITION
    assert created["type"] == "STANDARD" and created["roleArn"].startswith("arn:aws:iam::123456789012:role/")
    assert aws["state_machine_arn"] == LOCAL_ARN and aws["moto_state_machine_arn"] == MOTO_ARN
    assert aws["stepfunctions_endpoint"] == "http://localhost:8083"
    assert aws["endpoint_url"] == "http://127.0.0.1:5055", "everything else stays on moto"


def test_deploy_updates_an_existing_machine_and_stops_its_running_executions():
    fake = FakeSfnLocal(existing=True, running=2)
    aws = deploy_to_sfn_local(endpoints(), CONFIG, client=fake, moto_client=FakeMoto())
    assert "create_state_machine" not in fake.names()
    assert fake.names().count("stop_execution") == 2
    updated = dict(fake.calls)["update_state_machine"]
    assert updated["stateMachineArn"] == LOCAL_ARN and updated["definition"] == DEFINITION
    assert aws["state_machine_arn"] == LOCAL_ARN


def test_deploy_refuses_a_moto_on_another_port():
    with pytest.raises(SfnLocalError, match="moto listens on port 5999"):
        deploy_to_sfn_local(endpoints(5999), CONFIG, client=FakeSfnLocal(), moto_client=FakeMoto())


def test_deploy_explains_an_unreachable_sfn_local():
    fake = FakeSfnLocal(fail=EndpointConnectionError(endpoint_url="http://localhost:8083"))
    with pytest.raises(SfnLocalError, match="not reachable") as info:
        deploy_to_sfn_local(endpoints(), CONFIG, client=fake, moto_client=FakeMoto())
    assert "docker run" in str(info.value)


def test_deploy_reports_a_rejected_definition():
    error = ClientError({"Error": {"Code": "InvalidDefinition", "Message": "bad field"}}, "ListStateMachines")
    with pytest.raises(SfnLocalError, match="InvalidDefinition: bad field"):
        deploy_to_sfn_local(endpoints(), CONFIG, client=FakeSfnLocal(fail=error), moto_client=FakeMoto())


def test_use_sfn_local_rewrites_the_endpoints_file(tmp_path):
    e = endpoints()
    e["state_dir"] = str(tmp_path)
    (tmp_path / "endpoints.json").write_text(json.dumps(e))
    use_sfn_local(e, CONFIG, client=FakeSfnLocal(), moto_client=FakeMoto())
    assert e["aws"]["stepfunctions_endpoint"] == "http://localhost:8083"
    saved = json.loads((tmp_path / "endpoints.json").read_text())
    assert saved["aws"]["state_machine_arn"] == LOCAL_ARN
