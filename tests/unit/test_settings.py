"""The one settings reader (``claimsync.settings``) and the one place of the Salesforce API version."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pytest

from claimsync import settings as reader
from claimsync.config import ConfigError, SyncSettings, settings_to_env
from claimsync.crm import CrmSettings
from claimsync.salesforce import API_VERSION
from claimsync.salesforce.gateway import SalesforceGateway
from claimsync.settings import setting
from stacks.config import InfraConfig, InfraConfigError

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


class Refused(Exception):
    pass


@dataclass(frozen=True)
class Example:
    name: str
    count: int = setting(3, low=1, high=10)
    ratio: float = setting(0.5, env="OTHER_RATIO", low=0, high=1)
    enabled: bool = False
    label: str = setting("fn", fallback=("AWS_LAMBDA_FUNCTION_NAME",))
    objects: tuple[str, ...] = setting((), pattern=r"[A-Z]\w*")
    extra: Mapping[str, str] = field(default_factory=dict)


def example(env: dict[str, str]) -> Example:
    return reader.from_env(Example, env, prefix="EX_", error=Refused)


# -- the reader ---------------------------------------------------------------------------------------


def test_defaults_are_the_fields_and_text_is_converted_by_type() -> None:
    assert example({"EX_NAME": "n"}) == Example(name="n")
    got = example(
        {
            "EX_NAME": "n",
            "EX_COUNT": " 7 ",
            "OTHER_RATIO": "0.25",
            "EX_ENABLED": "yes",
            "EX_OBJECTS": "Account, Claim__c,",
            "EX_EXTRA": '{"A": 1}',
        }
    )
    assert (got.count, got.ratio, got.enabled, got.objects, got.extra) == (
        7,
        0.25,
        True,
        ("Account", "Claim__c"),
        {"A": "1"},
    )


def test_blank_is_unset_and_a_fallback_is_read_when_the_variable_is_unset() -> None:
    assert example({"EX_NAME": "n", "EX_COUNT": "  ", "EX_LABEL": ""}) == Example(name="n")
    assert example({"EX_NAME": "n", "AWS_LAMBDA_FUNCTION_NAME": "lambda"}).label == "lambda"
    both = {"EX_NAME": "n", "EX_LABEL": "mine", "AWS_LAMBDA_FUNCTION_NAME": "lambda"}
    assert example(both).label == "mine"


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(Refused) as caught:
        example({"EX_COUNT": "many", "OTHER_RATIO": "nan", "EX_ENABLED": "maybe", "EX_EXTRA": "[1]"})
    assert str(caught.value) == (
        "EX_NAME is required; EX_COUNT must be a whole number; OTHER_RATIO must be a number;"
        " EX_ENABLED must be true or false; EX_EXTRA must be a JSON object"
    )
    with pytest.raises(Refused) as caught:
        example({"EX_NAME": "n", "EX_COUNT": "11", "OTHER_RATIO": "-1", "EX_OBJECTS": "Account,drop"})
    assert str(caught.value) == (
        "EX_COUNT must be between 1 and 10; OTHER_RATIO must be between 0 and 1;"
        " every item of EX_OBJECTS must match [A-Z]\\w*"
    )


def test_json_values_keep_their_type_and_to_env_reads_back() -> None:
    raw: dict[str, Any] = {"name": "n", "count": 4, "ratio": 1, "enabled": True, "objects": ["A", "B"]}
    got = reader.read(Example, raw, error=Refused)
    assert got == Example(name="n", count=4, ratio=1.0, enabled=True, objects=("A", "B"))
    assert example(reader.to_env(got, prefix="EX_")) == got
    with pytest.raises(Refused, match="count must be a whole number"):
        reader.read(Example, {"name": "n", "count": True}, error=Refused)


# -- the claim sync's settings -----------------------------------------------------------------------


def test_sync_settings_keep_their_variable_names() -> None:
    names = set(settings_to_env(SyncSettings("b", "t", "s", "c")))
    assert names == {f"CLAIMSYNC_{f.name.upper()}" for f in fields(SyncSettings)}
    assert {"CLAIMSYNC_BUCKET", "CLAIMSYNC_PAGE_SIZE", "CLAIMSYNC_SALESFORCE_API_VERSION"} <= names


def test_sync_settings_round_trip_through_the_environment() -> None:
    settings = replace(SyncSettings("b", "t", "s", "c"), page_size=100, http_timeout_seconds=2.5)
    assert SyncSettings.from_env(settings_to_env(settings)) == settings


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "CLAIMSYNC_BUCKET is required"),
        ({"CLAIMSYNC_PAGE_SIZE": "lots"}, "CLAIMSYNC_PAGE_SIZE must be a whole number"),
        ({"CLAIMSYNC_PAGE_SIZE": "0"}, "CLAIMSYNC_PAGE_SIZE must be at least 1"),
        ({"CLAIMSYNC_MAX_PAGES": "3"}, "max_pages must be a power of two"),
        (
            {"CLAIMSYNC_TRANSIENT_RETRY_ROUNDS": "6"},
            "CLAIMSYNC_TRANSIENT_RETRY_ROUNDS must be between 0 and 5",
        ),
        ({"CLAIMSYNC_SALESFORCE_API_VERSION": "v62"}, "CLAIMSYNC_SALESFORCE_API_VERSION must match"),
    ],
)
def test_sync_settings_refuse_what_they_cannot_run_with(env: dict[str, str], message: str) -> None:
    names = {"CLAIMSYNC_BUCKET": "b", "CLAIMSYNC_TABLE": "t"} if env else {}
    secrets = {"CLAIMSYNC_SALESFORCE_SECRET_ID": "s", "CLAIMSYNC_COLLABORATEMD_SECRET_ID": "c"}
    with pytest.raises(ConfigError, match=re.escape(message)):
        SyncSettings.from_env({**names, **secrets, **env})


# -- the Salesforce API version: one place ----------------------------------------------------------------


def test_every_reader_of_the_api_version_defaults_to_the_domain_constant() -> None:
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    assert SyncSettings("b", "t", "s", "c").salesforce_api_version == API_VERSION
    assert CrmSettings().salesforce_api_version == API_VERSION
    assert CrmSettings.from_env({}).salesforce_api_version == API_VERSION
    gateway_default = inspect.signature(SalesforceGateway).parameters["api_version"].default
    assert gateway_default == API_VERSION
    assert InfraConfig.from_context(context.get).salesforce_api_version == API_VERSION


def test_the_sfdx_project_deploys_with_the_same_api_version() -> None:
    project = json.loads((REPO / "salesforce" / "sfdx-project.json").read_text())
    assert project["sourceApiVersion"] == API_VERSION, (
        "salesforce/sfdx-project.json sourceApiVersion must be claimsync.salesforce.API_VERSION"
    )


def test_the_api_version_is_written_once_in_the_code_and_the_deployment_settings() -> None:
    """Only claimsync/salesforce/__init__.py spells it; cdk.json may override it, but does not restate it."""
    literal = re.compile(rf"[\"']v?{re.escape(API_VERSION)}[\"']")
    files = [*(REPO / "lambdas").rglob("*.py"), *(REPO / "stacks").rglob("*.py"), REPO / "app.py"]
    spelled = sorted(
        str(p.relative_to(REPO)) for p in [*files, REPO / "cdk.json"] if literal.search(p.read_text())
    )
    assert spelled == ["lambdas/claimsync/salesforce/__init__.py"]


def test_a_deployment_overrides_the_api_version_through_the_one_reader() -> None:
    config = InfraConfig.from_context({"sync": {"salesforce_api_version": "63.0"}}.get)
    assert config.salesforce_api_version == "63.0"
    settings = config.sync_settings(
        bucket="b", table="t", salesforce_secret_id="s", collaboratemd_secret_id="c"
    )
    assert settings_to_env(settings)["CLAIMSYNC_SALESFORCE_API_VERSION"] == "63.0"
    from_command_line = InfraConfig.from_context({"sync": '{"salesforce_api_version": "63.0"}'}.get)
    assert from_command_line.salesforce_api_version == "63.0"
    with pytest.raises(InfraConfigError, match="salesforce_api_version must match"):
        InfraConfig.from_context({"sync": {"salesforce_api_version": "v63"}}.get)
