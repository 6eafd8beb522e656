"""Properties of the synthesized templates: encryption, TLS, lifecycle, secrets, schedule, ASL, alarms, API."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match

from claimsync import layout
from claimsync.config import SyncSettings
from claimsync.crm import CrmSettings, idempotency
from claimsync.crm.routes import ROUTES
from local.connected_app import DEFAULT_KEY_ALIAS
from stacks import metrics
from stacks.api_stack import CRM_HANDLER
from stacks.crm_api import GATEWAY_RESPONSES, IDEMPOTENCY_TABLE_ACTIONS, is_catch_all
from stacks.sync_stack import OUTPUT_BUCKET, OUTPUT_SALESFORCE_SECRET, OUTPUT_STATE_MACHINE, OUTPUT_TABLE
from tests.infra.conftest import Synthesized

pytestmark = pytest.mark.infra


# ---- helpers -----------------------------------------------------------------------------------
def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def only(template: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.items()))


def shared_target(s: Synthesized, value: Any) -> Any:
    """Follow a (weak) cross-stack reference into the shared stack's output value."""
    if isinstance(value, dict) and "Fn::GetStackOutput" in value:
        ref = value["Fn::GetStackOutput"]
        assert ref["StackName"] == s.stacks.shared.stack_name
        return s.json(s.stacks.shared)["Outputs"][ref["OutputName"]]["Value"]
    return value


def logical_id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


@pytest.fixture(scope="module")
def key_id(synthesized: Synthesized) -> str:
    """The project's symmetric key (the other KMS key of the shared stack signs JWT assertions)."""
    keys = resources(synthesized.json(synthesized.stacks.shared), "AWS::KMS::Key")
    symmetric = {n: k for n, k in keys.items() if "KeySpec" not in k["Properties"]}
    assert len(symmetric) == 1 and len(keys) == 2, sorted(keys)
    name, key = next(iter(symmetric.items()))
    assert key["Properties"]["EnableKeyRotation"] is True
    return name


def is_project_key(s: Synthesized, key_id: str, value: Any) -> bool:
    return logical_id_of(shared_target(s, value)) == key_id


def all_templates(s: Synthesized) -> list[dict[str, Any]]:
    return list(s.raw.values())


# ---- encryption at rest --------------------------------------------------------------------------
def test_staging_bucket_uses_the_project_key(synthesized: Synthesized, key_id: str) -> None:
    sync = synthesized.json(synthesized.stacks.sync)
    bucket = sync["Resources"][logical_id_of(sync["Outputs"][OUTPUT_BUCKET]["Value"])]
    rule = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert is_project_key(synthesized, key_id, rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"])
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "LoggingConfiguration" in bucket["Properties"], "server access logs go to the access-log bucket"


def test_sync_table_keys_ttl_pitr_and_key(synthesized: Synthesized, key_id: str) -> None:
    sync = synthesized.json(synthesized.stacks.sync)
    props = sync["Resources"][logical_id_of(sync["Outputs"][OUTPUT_TABLE]["Value"])]["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": layout.TABLE_PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": layout.TABLE_SORT_KEY, "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == {
        "pk": "S",
        "sk": "S",
    }
    assert props["TimeToLiveSpecification"] == {"AttributeName": layout.TABLE_TTL_ATTRIBUTE, "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["SSESpecification"]["SSEType"] == "KMS"
    assert is_project_key(synthesized, key_id, props["SSESpecification"]["KMSMasterKeyId"])


def test_every_log_group_is_encrypted_and_has_retention(synthesized: Synthesized, key_id: str) -> None:
    groups = [g for t in all_templates(synthesized) for g in resources(t, "AWS::Logs::LogGroup").values()]
    # 8 sync functions + CRM function + state machine + API access + API execution logs.
    assert len(groups) >= len(layout.SYNC_FUNCTIONS) + 4
    for group in groups:
        assert group["Properties"]["RetentionInDays"] == synthesized.config.log_retention_days
        assert is_project_key(synthesized, key_id, group["Properties"]["KmsKeyId"])


def test_secrets_are_encrypted_and_hold_only_generated_placeholders(
    synthesized: Synthesized, key_id: str
) -> None:
    secrets = resources(synthesized.json(synthesized.stacks.shared), "AWS::SecretsManager::Secret")
    assert len(secrets) == 2
    for secret in secrets.values():
        props = secret["Properties"]
        assert is_project_key(synthesized, key_id, props["KmsKeyId"])
        assert "SecretString" not in props, "a secret value must never be in the template"
        template = json.loads(props["GenerateSecretString"]["SecretStringTemplate"])
        assert all(
            v == "REPLACE_ME" or v.startswith("https://") or v == "password" for v in template.values()
        )


def test_state_machine_and_topic_use_the_project_key(synthesized: Synthesized, key_id: str) -> None:
    _, machine = only(synthesized.json(synthesized.stacks.sync), "AWS::StepFunctions::StateMachine")
    encryption = machine["Properties"]["EncryptionConfiguration"]
    assert encryption["Type"] == "CUSTOMER_MANAGED_KMS_KEY"
    assert is_project_key(synthesized, key_id, encryption["KmsKeyId"])
    _, topic = only(synthesized.json(synthesized.stacks.shared), "AWS::SNS::Topic")
    assert is_project_key(synthesized, key_id, topic["Properties"]["KmsMasterKeyId"])


def test_key_policy_lets_cloudwatch_logs_of_this_account_use_the_key(synthesized: Synthesized) -> None:
    synthesized.template(synthesized.stacks.shared).has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "CloudWatchLogsOfThisAccount",
                                "Condition": {
                                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": Match.any_value()}
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


# ---- transport and lifecycle ---------------------------------------------------------------------
def test_bucket_policies_deny_requests_without_tls(synthesized: Synthesized) -> None:
    policies = resources(synthesized.json(synthesized.stacks.sync), "AWS::S3::BucketPolicy")
    assert len(policies) == 2  # staging bucket and its access-log bucket
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            st["Effect"] == "Deny"
            and st["Principal"] == {"AWS": "*"}
            and st["Action"] == "s3:*"
            and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for st in statements
        )


def test_lifecycle_expires_every_prefix(synthesized: Synthesized) -> None:
    sync = synthesized.json(synthesized.stacks.sync)
    props = sync["Resources"][logical_id_of(sync["Outputs"][OUTPUT_BUCKET]["Value"])]["Properties"]
    rules = {r.get("Prefix"): r for r in props["LifecycleConfiguration"]["Rules"]}
    cfg = synthesized.config
    expected = {
        layout.RUNS_PREFIX: cfg.runs_expiry_days,
        layout.REPORTS_PREFIX: cfg.reports_expiry_days,
        layout.SNAPSHOTS_PREFIX: cfg.snapshots_expiry_days,
    }
    assert (cfg.runs_expiry_days, cfg.reports_expiry_days, cfg.snapshots_expiry_days) == (7, 30, 35)
    for prefix, days in expected.items():
        assert rules[prefix]["Status"] == "Enabled"
        assert rules[prefix]["ExpirationInDays"] == days
        assert rules[prefix]["NoncurrentVersionExpiration"]["NoncurrentDays"] == cfg.noncurrent_expiry_days
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    cleanup = rules[None]
    assert cleanup["NoncurrentVersionExpiration"]["NoncurrentDays"] == cfg.noncurrent_expiry_days
    assert cleanup["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1


# ---- Lambda --------------------------------------------------------------------------------------
CREDENTIAL_PATTERNS = (
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key id
    re.compile(r"-----BEGIN"),  # PEM
    re.compile(r"^[A-Za-z0-9+/=_-]{24,}$"),  # a long token-like string
    re.compile(r"eyJ[A-Za-z0-9_-]+\."),  # JWT
)


def lambda_functions(s: Synthesized) -> dict[str, dict[str, Any]]:
    return {name: fn for t in all_templates(s) for name, fn in resources(t, "AWS::Lambda::Function").items()}


def test_every_function_has_the_project_defaults(synthesized: Synthesized) -> None:
    functions = lambda_functions(synthesized)
    assert len(functions) == len(layout.SYNC_FUNCTIONS) + len(layout.EVENT_FUNCTIONS) + 1  # + the CRM API
    for fn in functions.values():
        props = fn["Properties"]
        assert props["Runtime"] == f"python{synthesized.config.lambda_python_version}"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["ReservedConcurrentExecutions"] >= 1
        assert "LogGroup" in props["LoggingConfig"]


def test_sync_functions_match_the_layout(synthesized: Synthesized) -> None:
    by_handler = {
        fn["Properties"]["Handler"]: fn["Properties"] for fn in lambda_functions(synthesized).values()
    }
    for spec in (*layout.SYNC_FUNCTIONS, *layout.EVENT_FUNCTIONS):
        props = by_handler[spec.handler]
        assert (props["MemorySize"], props["Timeout"]) == (spec.memory_mb, spec.timeout_s)
    assert CRM_HANDLER in by_handler


def test_no_environment_variable_holds_a_secret(synthesized: Synthesized) -> None:
    # The shared stack's integration secrets and the CRM API stack's cursor key.
    secrets = {
        name
        for template in all_templates(synthesized)
        for name in resources(template, "AWS::SecretsManager::Secret")
    }
    for fn in lambda_functions(synthesized).values():
        env = fn["Properties"]["Environment"]["Variables"]
        for name, value in env.items():
            assert not re.search(r"PASSWORD|TOKEN|PRIVATE|CLIENT_SECRET|API_KEY", name), name
            if name.endswith("_SECRET_ID"):
                # Only a reference to one of the secrets (its ARN), never a value.
                assert logical_id_of(shared_target(synthesized, value)) in secrets, name
                continue
            if isinstance(value, str):
                assert not any(p.search(value) for p in CREDENTIAL_PATTERNS), f"{name}={value!r}"


def test_sync_environment_is_what_the_code_reads(synthesized: Synthesized) -> None:
    expected = {f"CLAIMSYNC_{name.upper()}" for name in SyncSettings.__dataclass_fields__}
    for fn in lambda_functions(synthesized).values():
        env = fn["Properties"]["Environment"]["Variables"]
        if fn["Properties"]["Handler"] == CRM_HANDLER:
            assert {"CLAIMSYNC_SALESFORCE_SECRET_ID", "CLAIMSYNC_SALESFORCE_API_VERSION"} <= set(env)
            assert "CLAIMSYNC_COLLABORATEMD_SECRET_ID" not in env
        else:
            assert expected <= set(env)
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == metrics.NAMESPACE
        assert env["POWERTOOLS_SERVICE_NAME"] == metrics.SERVICE


def policy_statements_of_role(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [
        st
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for st in statements:
        found.update([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    return found


def test_functions_get_exactly_the_access_they_use(synthesized: Synthesized) -> None:
    sync = synthesized.json(synthesized.stacks.sync)
    by_handler = {fn["Properties"]["Handler"]: fn for fn in resources(sync, "AWS::Lambda::Function").values()}
    for spec in layout.SYNC_FUNCTIONS:
        role_id = logical_id_of(by_handler[spec.handler]["Properties"]["Role"])
        granted = actions(policy_statements_of_role(sync, role_id))
        assert ("s3:GetObject" in granted) == spec.staging, spec.name
        assert ("secretsmanager:GetSecretValue" in granted) == (spec.salesforce or spec.collaboratemd), (
            spec.name
        )
        table_actions = {a for a in granted if a.startswith("dynamodb:")}
        if spec.sync_table:  # the report in flight (claimsync.report_registry): three item operations
            assert table_actions == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}, spec.name
            assert not any(a.endswith("*") for a in granted if a.startswith("kms:")), spec.name
        else:
            assert not table_actions, f"{spec.name}: the state machine owns the table items"
        secret_refs = {
            logical_id_of(shared_target(synthesized, st["Resource"]))
            for st in policy_statements_of_role(sync, role_id)
            if "secretsmanager:GetSecretValue" in actions([st])
        }
        shared = synthesized.stacks.shared
        wanted = set()
        if spec.salesforce:
            wanted.add(shared.get_logical_id(shared.secrets.salesforce.node.default_child))
        if spec.collaboratemd:
            wanted.add(shared.get_logical_id(shared.secrets.collaboratemd.node.default_child))
        assert secret_refs == wanted, spec.name


def test_no_wildcard_actions_anywhere(synthesized: Synthesized) -> None:
    for template in all_templates(synthesized):
        for policy in resources(template, "AWS::IAM::Policy").values():
            for action in actions(policy["Properties"]["PolicyDocument"]["Statement"]):
                assert action != "*" and not action.endswith(":*"), action


def test_each_function_is_deployed_as_declared(synthesized: Synthesized) -> None:
    """Memory, timeout, ephemeral storage and reserved concurrency come from layout.SYNC_FUNCTIONS
    and layout.EVENT_FUNCTIONS."""
    functions = resources(synthesized.json(synthesized.stacks.sync), "AWS::Lambda::Function")
    by_handler = {f["Properties"]["Handler"]: f["Properties"] for f in functions.values()}
    for spec in (*layout.SYNC_FUNCTIONS, *layout.EVENT_FUNCTIONS):
        props = by_handler[spec.handler]
        assert props["MemorySize"] == spec.memory_mb and props["Timeout"] == spec.timeout_s, spec.name
        assert props["EphemeralStorage"] == {"Size": spec.ephemeral_mb}, spec.name
        assert (
            props.get("ReservedConcurrentExecutions", spec.reserved_concurrency) == spec.reserved_concurrency
        )


# ---- state machine -------------------------------------------------------------------------------
def rendered_definition(s: Synthesized) -> tuple[str, dict[str, Any]]:
    _, machine = only(s.json(s.stacks.sync), "AWS::StepFunctions::StateMachine")
    props = machine["Properties"]
    text = props["DefinitionString"]
    assert isinstance(text, str), "the ASL is loaded with DefinitionBody.from_string (visible to tests)"
    substitutions = props["DefinitionSubstitutions"]
    for key in substitutions:
        text = text.replace("${" + key + "}", f"<{key}>")
    return text, props


def test_every_asl_placeholder_is_substituted(synthesized: Synthesized) -> None:
    text, props = rendered_definition(synthesized)
    assert set(props["DefinitionSubstitutions"]) == layout.ASL_PLACEHOLDERS
    assert "${" not in text
    assert json.loads(text)["TimeoutSeconds"] > 0, "the overall timeout lives in the ASL"


def test_function_placeholders_point_at_the_right_functions(synthesized: Synthesized) -> None:
    _, props = rendered_definition(synthesized)
    sync = synthesized.json(synthesized.stacks.sync)
    subs = props["DefinitionSubstitutions"]
    for spec in layout.SYNC_FUNCTIONS:
        fn = sync["Resources"][logical_id_of(subs[spec.placeholder])]
        assert fn["Properties"]["Handler"] == spec.handler
    table_id = logical_id_of(sync["Outputs"][OUTPUT_TABLE]["Value"])
    assert subs[layout.TABLE_PLACEHOLDER] == {"Ref": table_id}


def test_state_machine_logs_without_data_and_traces(synthesized: Synthesized) -> None:
    _, props = rendered_definition(synthesized)
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is False
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["StateMachineType"] == "STANDARD"


def test_state_machine_role_can_do_exactly_the_table_items_and_invokes(synthesized: Synthesized) -> None:
    sync = synthesized.json(synthesized.stacks.sync)
    _, machine = only(sync, "AWS::StepFunctions::StateMachine")
    statements = policy_statements_of_role(sync, logical_id_of(machine["Properties"]["RoleArn"]))
    assert {a for a in actions(statements) if a.startswith("dynamodb:")} == {
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:DeleteItem",
    }
    invoke = [st for st in statements if actions([st]) == {"lambda:InvokeFunction"}]
    assert len(invoke) == 1
    targets = {logical_id_of(r) for r in invoke[0]["Resource"]}
    assert len(targets) == len(layout.SYNC_FUNCTIONS)
    assert all(sync["Resources"][t]["Type"] == "AWS::Lambda::Function" for t in targets)


def test_outputs_for_the_operator_cli(synthesized: Synthesized) -> None:
    outputs = synthesized.json(synthesized.stacks.sync)["Outputs"]
    assert {OUTPUT_STATE_MACHINE, OUTPUT_BUCKET, OUTPUT_TABLE, OUTPUT_SALESFORCE_SECRET} <= set(outputs)
    # the ARN of the shared stack's Salesforce secret (a reference to the secret), never its value
    secret = logical_id_of(shared_target(synthesized, outputs[OUTPUT_SALESFORCE_SECRET]["Value"]))
    shared = synthesized.json(synthesized.stacks.shared)["Resources"]
    assert secret is not None and shared[secret]["Type"] == "AWS::SecretsManager::Secret"
    assert shared[secret]["Properties"]["Name"].endswith("/salesforce")


# ---- schedule ------------------------------------------------------------------------------------
def test_schedule_starts_the_state_machine_with_empty_input(synthesized: Synthesized) -> None:
    sync = synthesized.json(synthesized.stacks.sync)
    _, schedule = only(sync, "AWS::Scheduler::Schedule")
    props = schedule["Properties"]
    machine_id, _ = only(sync, "AWS::StepFunctions::StateMachine")
    assert props["Target"]["Arn"] == {"Ref": machine_id}
    assert props["Target"]["Input"] == "{}"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["ScheduleExpression"] == synthesized.config.schedule_expression
    assert props["ScheduleExpressionTimezone"] == synthesized.config.schedule_timezone
    assert (
        props["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == synthesized.config.schedule_retry_attempts
    )
    assert props["State"] == "ENABLED"
    role_statements = policy_statements_of_role(sync, logical_id_of(props["Target"]["RoleArn"]))
    assert actions(role_statements) == {"states:StartExecution"}


# ---- alarms --------------------------------------------------------------------------------------
def alarms(s: Synthesized) -> list[dict[str, Any]]:
    return [
        a["Properties"] for t in all_templates(s) for a in resources(t, "AWS::CloudWatch::Alarm").values()
    ]


def test_every_alarm_notifies_the_topic(synthesized: Synthesized) -> None:
    topic_id, _ = only(synthesized.json(synthesized.stacks.shared), "AWS::SNS::Topic")
    found = alarms(synthesized)
    assert found
    for alarm in found:
        assert [logical_id_of(shared_target(synthesized, a)) for a in alarm["AlarmActions"]] == [topic_id]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_the_expected_alarms_exist(synthesized: Synthesized) -> None:
    found = {(a["Namespace"], a["MetricName"]) for a in alarms(synthesized)}
    assert {
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
        ("AWS/States", "ExecutionsAborted"),
        (metrics.NAMESPACE, metrics.PARTIAL_RUNS),
        (metrics.NAMESPACE, metrics.SALESFORCE_API_USAGE_PERCENT),
        ("AWS/ApiGateway", "5XXError"),
    } <= found
    per_function = [a for a in alarms(synthesized) if a["Namespace"] == "AWS/Lambda"]
    assert {a["MetricName"] for a in per_function} == {"Errors", "Throttles"}
    assert len(per_function) == 2 * (len(layout.SYNC_FUNCTIONS) + len(layout.EVENT_FUNCTIONS) + 1)


def test_custom_metric_alarms_match_what_powertools_emits(synthesized: Synthesized) -> None:
    for alarm in alarms(synthesized):
        if alarm["Namespace"] == metrics.NAMESPACE:
            assert alarm["Dimensions"] == [{"Name": "service", "Value": metrics.SERVICE}]
            if alarm["MetricName"] == metrics.SALESFORCE_API_USAGE_PERCENT:
                assert alarm["Threshold"] == synthesized.config.salesforce_api_usage_alarm_percent
                assert alarm["Statistic"] == "Maximum"


def test_dashboard_shows_runs_claims_and_api_usage(synthesized: Synthesized) -> None:
    _, dashboard = only(synthesized.json(synthesized.stacks.sync), "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for name in (
        metrics.CLAIMS_SENT,
        metrics.CLAIMS_REJECTED,
        metrics.CLAIMS_FAILED,
        metrics.PARTIAL_RUNS,
        metrics.SALESFORCE_API_USAGE_PERCENT,
        "ExecutionsSucceeded",
    ):
        assert name in body


# ---- CRM API -------------------------------------------------------------------------------------
def api_routes(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    api_id, _ = only(template, "AWS::ApiGateway::RestApi")
    parts = {
        rid: (r["Properties"]["ParentId"], r["Properties"]["PathPart"])
        for rid, r in resources(template, "AWS::ApiGateway::Resource").items()
    }

    def path_of(resource: Any) -> str:
        rid = logical_id_of(resource)
        if rid == api_id:  # {"Fn::GetAtt": [api, "RootResourceId"]}
            return ""
        parent, part = parts[rid]  # type: ignore[index]
        return f"{path_of(parent)}/{part}"

    return {
        (m["Properties"]["HttpMethod"], path_of(m["Properties"]["ResourceId"]) or "/"): m["Properties"]
        for m in resources(template, "AWS::ApiGateway::Method").values()
    }


def test_api_routes_are_exactly_the_route_table(synthesized: Synthesized) -> None:
    """Every method that is not a catch-all (ANY, or a {proxy+} path) is exactly one ROUTES entry."""
    routes = api_routes(synthesized.json(synthesized.stacks.api))
    explicit = {(method, path) for method, path in routes if not is_catch_all(method, path)}
    assert explicit == {(r.method, r.path) for r in ROUTES}
    assert not any(is_catch_all(r.method, r.path) for r in ROUTES), "ROUTES declares no ANY or {proxy+}"


def declared_paths() -> set[str]:
    """The root, every route's resource and every resource above one (e.g. /batch)."""
    paths = {"/"}
    for route in ROUTES:
        parts = route.path.strip("/").split("/")
        paths.update("/" + "/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    return paths


def test_api_catch_alls_send_unknown_paths_and_methods_to_the_lambda(synthesized: Synthesized) -> None:
    """Unknown paths (ANY /{proxy+}) and undeclared methods of declared paths (ANY on each resource)
    reach the Lambda, which answers 404 NOT_FOUND / 405 METHOD_NOT_ALLOWED; API Gateway itself would
    answer 403 Missing Authentication Token."""
    routes = api_routes(synthesized.json(synthesized.stacks.api))
    catch_alls = {(method, path) for method, path in routes if is_catch_all(method, path)}
    assert catch_alls == {("ANY", "/{proxy+}")} | {("ANY", path) for path in declared_paths()}


def test_every_api_method_requires_iam_and_proxies_to_the_lambda(synthesized: Synthesized) -> None:
    api = synthesized.json(synthesized.stacks.api)
    fn_id, _ = only(api, "AWS::Lambda::Function")
    routes = api_routes(api)
    assert len(routes) == len(ROUTES) + len(declared_paths()) + 1  # the catch-alls included
    for (method, path), props in routes.items():
        assert props["AuthorizationType"] == "AWS_IAM", (method, path)
        assert props.get("ApiKeyRequired", False) is False, (method, path)
        assert props["Integration"]["Type"] == "AWS_PROXY", (method, path)
        assert fn_id in json.dumps(props["Integration"]["Uri"]), (method, path)


def test_gateway_errors_use_the_api_envelope(synthesized: Synthesized) -> None:
    api = synthesized.json(synthesized.stacks.api)
    api_id, _ = only(api, "AWS::ApiGateway::RestApi")
    found = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources(api, "AWS::ApiGateway::GatewayResponse").values()
    }
    expected = {
        "DEFAULT_4XX": (None, "REQUEST_REJECTED"),
        "DEFAULT_5XX": (None, "INTERNAL_ERROR"),
        "MISSING_AUTHENTICATION_TOKEN": ("403", "AUTH_ERROR"),
        "ACCESS_DENIED": ("403", "AUTH_ERROR"),
        "INVALID_SIGNATURE": ("403", "AUTH_ERROR"),
        "EXPIRED_TOKEN": ("403", "AUTH_ERROR"),
        "INVALID_API_KEY": ("403", "AUTH_ERROR"),
        "THROTTLED": ("429", "RATE_LIMITED"),
        "QUOTA_EXCEEDED": ("429", "RATE_LIMITED"),
        "REQUEST_TOO_LARGE": ("413", "PAYLOAD_TOO_LARGE"),
    }
    assert set(found) == set(expected) == {t.response_type for t, _, _ in GATEWAY_RESPONSES}
    for response_type, (status, error_code) in expected.items():
        props = found[response_type]
        assert props["RestApiId"] == {"Ref": api_id}
        assert props.get("StatusCode") == status, response_type
        assert props["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
        template = props["ResponseTemplates"]["application/json"]
        # What API Gateway renders: $context.error.messageString is a JSON string (quotes included).
        rendered = template.replace("$context.error.messageString", '"Forbidden"').replace(
            "$context.requestTime", "09/Apr/2015:12:34:56 +0000"
        )
        assert json.loads(rendered) == {
            "success": False,
            "error": "Forbidden",
            "error_code": error_code,
            "timestamp": "09/Apr/2015:12:34:56 +0000",
        }, response_type


def test_api_stage_throttles_and_logs_without_bodies(synthesized: Synthesized, key_id: str) -> None:
    api = synthesized.json(synthesized.stacks.api)
    _, stage = only(api, "AWS::ApiGateway::Stage")
    props = stage["Properties"]
    settings = props["MethodSettings"][0]
    assert settings["ThrottlingRateLimit"] == synthesized.config.api_throttle_rate
    assert settings["ThrottlingBurstLimit"] == synthesized.config.api_throttle_burst
    assert settings["DataTraceEnabled"] is False
    assert props["TracingEnabled"] is True
    log_format = json.loads(props["AccessLogSetting"]["Format"])
    assert "requestId" in log_format
    assert not any("body" in v.lower() or "querystring" in v.lower() for v in log_format.values())
    destination = re.findall(r'"Ref": "(\w+)"', json.dumps(props["AccessLogSetting"]["DestinationArn"]))
    assert [api["Resources"][d]["Type"] for d in destination if d in api["Resources"]] == [
        "AWS::Logs::LogGroup"
    ]
    assert not resources(api, "AWS::ApiGateway::UsagePlan"), "api keys only when api_auth is api_key"


def test_api_lambda_reads_only_the_salesforce_secret_and_its_cursor_key(synthesized: Synthesized) -> None:
    api = synthesized.json(synthesized.stacks.api)
    _, fn = only(api, "AWS::Lambda::Function")
    statements = policy_statements_of_role(api, logical_id_of(fn["Properties"]["Role"]))
    shared = synthesized.stacks.shared
    read = [
        resource
        for st in statements
        if "secretsmanager:GetSecretValue" in actions([st])
        for resource in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])
    ]
    assert sorted(logical_id_of(shared_target(synthesized, r)) or "" for r in read) == sorted(
        [
            shared.get_logical_id(shared.secrets.salesforce.node.default_child),
            synthesized.stacks.api.get_logical_id(synthesized.stacks.api.state.cursor_key.node.default_child),
        ]
    )


def test_idempotency_table_keys_ttl_pitr_and_key(synthesized: Synthesized, key_id: str) -> None:
    api = synthesized.json(synthesized.stacks.api)
    name, table = only(api, "AWS::DynamoDB::Table")
    props = table["Properties"]
    # The shape Powertools' persistence layer is configured with (claimsync.crm.idempotency).
    assert props["KeySchema"] == [{"AttributeName": idempotency.TABLE_KEY_ATTRIBUTE, "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": idempotency.TABLE_KEY_ATTRIBUTE, "AttributeType": "S"}
    ]
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": idempotency.TABLE_TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"]["SSEEnabled"] is True and props["SSESpecification"]["SSEType"] == "KMS"
    assert is_project_key(synthesized, key_id, props["SSESpecification"]["KMSMasterKeyId"])
    # The function is told this table, and may do exactly Powertools' item calls on it.
    _, fn = only(api, "AWS::Lambda::Function")
    assert fn["Properties"]["Environment"]["Variables"]["CRM_IDEMPOTENCY_TABLE"] == {"Ref": name}
    statements = policy_statements_of_role(api, logical_id_of(fn["Properties"]["Role"]))
    on_table = [st for st in statements if any(a.startswith("dynamodb:") for a in actions([st]))]
    assert actions(on_table) == set(IDEMPOTENCY_TABLE_ACTIONS)
    assert all(logical_id_of(st["Resource"]) == name for st in on_table)
    granted = actions(statements)
    assert {"kms:Decrypt", "kms:Encrypt"} <= granted


def test_cursor_key_is_generated_in_the_stack_encrypted_and_named_to_the_function(
    synthesized: Synthesized, key_id: str
) -> None:
    api = synthesized.json(synthesized.stacks.api)
    name, secret = only(api, "AWS::SecretsManager::Secret")
    props = secret["Properties"]
    assert "SecretString" not in props, "a secret value must never be in the template"
    assert props["GenerateSecretString"]["PasswordLength"] >= 32
    assert props["GenerateSecretString"]["ExcludePunctuation"] is True
    assert is_project_key(synthesized, key_id, props["KmsKeyId"])
    _, fn = only(api, "AWS::Lambda::Function")
    env = fn["Properties"]["Environment"]["Variables"]
    assert env["CRM_CURSOR_SECRET_ID"] == {"Ref": name}
    # What the handler reads from the environment (CrmSettings.from_env) finds both.
    settings = CrmSettings.from_env({k: v if isinstance(v, str) else "x" for k, v in env.items()})
    assert settings.cursor_secret_id and settings.idempotency_table


def test_the_jwt_signing_key_is_asymmetric_and_only_salesforce_readers_may_sign(
    synthesized: Synthesized,
) -> None:
    shared = synthesized.stacks.shared
    jwt_key = shared.get_logical_id(shared.secrets.salesforce_jwt_key.node.default_child)
    props = synthesized.json(shared)["Resources"][jwt_key]["Properties"]
    assert (props["KeySpec"], props["KeyUsage"]) == ("RSA_2048", "SIGN_VERIFY")
    aliases = {
        a["Properties"]["AliasName"]: logical_id_of(a["Properties"]["TargetKeyId"])
        for a in resources(synthesized.json(shared), "AWS::KMS::Alias").values()
    }
    assert aliases[DEFAULT_KEY_ALIAS] == jwt_key  # what claimsync salesforce-certificate uses by default
    output = synthesized.json(shared)["Outputs"]["SalesforceJwtKeyArn"]["Value"]
    assert logical_id_of(output) == jwt_key

    salesforce_readers = {spec.name for spec in layout.SYNC_FUNCTIONS if spec.salesforce}
    assert salesforce_readers
    for template in (synthesized.json(synthesized.stacks.sync), synthesized.json(synthesized.stacks.api)):
        for name, fn in resources(template, "AWS::Lambda::Function").items():
            statements = policy_statements_of_role(template, logical_id_of(fn["Properties"]["Role"]))
            signing = [st for st in statements if "kms:Sign" in actions([st])]
            salesforce_secret = shared.get_logical_id(shared.secrets.salesforce.node.default_child)
            reads_salesforce = any(
                "secretsmanager:GetSecretValue" in actions([st])
                and salesforce_secret
                in {
                    logical_id_of(shared_target(synthesized, r))
                    for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])
                }
                for st in statements
            )
            if reads_salesforce:
                assert len(signing) == 1, name
                assert actions(signing) == {"kms:Sign"}
                assert logical_id_of(shared_target(synthesized, signing[0]["Resource"])) == jwt_key
            else:
                assert not signing, f"{name} does not talk to Salesforce and must not sign"


# ---- checks at synth -----------------------------------------------------------------------------
def test_nag_packs_ran_and_nothing_is_unacknowledged(synthesized: Synthesized) -> None:
    # app.synth() raises on an unacknowledged finding; the report lists none.
    assert all(not r["violations"] for r in synthesized.validation_report["pluginReports"])
