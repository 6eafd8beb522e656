"""The cdk.json settings: read once, typed, validated; the api_key variant of the CRM API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.config import InfraConfig, InfraConfigError
from tests.infra.conftest import CDK_JSON, synthesize

pytestmark = pytest.mark.infra


def config_from(**context: Any) -> InfraConfig:
    return InfraConfig.from_context(context.get)


def test_cdk_json_holds_a_valid_config_with_the_documented_defaults() -> None:
    context = json.loads(CDK_JSON.read_text())["context"]
    config = InfraConfig.from_context(context.get)
    assert config == InfraConfig(sync=config.sync)  # cdk.json restates the defaults
    assert config.api_auth == "iam"
    assert (config.runs_expiry_days, config.reports_expiry_days, config.snapshots_expiry_days) == (7, 30, 35)


def test_command_line_strings_are_converted() -> None:
    config = config_from(
        schedule_enabled="false",
        runs_expiry_days="3",
        api_throttle_rate="5.5",
        api_cors_origins="https://a.example,https://b.example",
        sync='{"page_size": 2000}',
    )
    assert config.schedule_enabled is False
    assert config.runs_expiry_days == 3
    assert config.api_throttle_rate == 5.5
    assert config.api_cors_origins == ("https://a.example", "https://b.example")
    settings = config.sync_settings(
        bucket="b", table="t", salesforce_secret_id="s", collaboratemd_secret_id="c"
    )
    assert settings.page_size == 2000


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"api_auth": "none"}, "api_auth"),
        ({"log_retention_days": 42}, "log_retention_days"),
        ({"runs_expiry_days": 0}, "runs_expiry_days"),
        ({"snapshots_expiry_days": 5}, "snapshots_expiry_days"),
        ({"schedule_expression": "every day"}, "schedule_expression"),
        ({"sync": {"page_sise": 10}}, "unknown settings"),
        ({"sync": {"max_pages": 3}}, "power of two"),
        ({"sync": {"bucket": "x"}}, "unknown settings"),
        ({"crm_environment": {"SECRET": "x"}}, "crm_environment"),
        ({"lambda_python_version": "3.9"}, "lambda_python_version"),
        ({"alarm_email": "not-an-address"}, "alarm_email"),
        ({"reserved_concurrency": "maybe"}, "reserved_concurrency"),
    ],
)
def test_invalid_settings_are_refused_with_the_key_named(context: dict[str, Any], message: str) -> None:
    with pytest.raises(InfraConfigError, match=message):
        config_from(**context)


def test_api_key_variant_requires_keys_and_a_usage_plan(tmp_path: Path) -> None:
    synthesized = synthesize(tmp_path, api_auth="api_key", api_quota_per_day=500)
    api = synthesized.json(synthesized.stacks.api)
    methods = [r["Properties"] for r in api["Resources"].values() if r["Type"] == "AWS::ApiGateway::Method"]
    assert methods
    assert all(m["ApiKeyRequired"] is True and m["AuthorizationType"] == "NONE" for m in methods)
    plans = [r["Properties"] for r in api["Resources"].values() if r["Type"] == "AWS::ApiGateway::UsagePlan"]
    assert len(plans) == 1
    assert plans[0]["Quota"] == {"Limit": 500, "Period": "DAY"}
    assert plans[0]["Throttle"]["RateLimit"] == synthesized.config.api_throttle_rate
    assert any(r["Type"] == "AWS::ApiGateway::UsagePlanKey" for r in api["Resources"].values())
