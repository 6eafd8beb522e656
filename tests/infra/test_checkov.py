"""checkov on the synthesized templates: 0 unexplained findings, and the gate really catches one.

checkov runs from its own virtual environment (``make checkov-setup``; ``make test`` and
``make synth`` create it), on the templates of this session's synthesis.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from stacks import checkov
from tests.infra.conftest import Synthesized

pytestmark = pytest.mark.infra

# Suppressed on purpose, each with its reason in the template (docs/infrastructure.md lists them).
EXPECTED_SKIPS = {
    "AWS::Lambda::Function": {"CKV_AWS_116", "CKV_AWS_117"},  # DLQ (synchronous only), VPC
    "AWS::ApiGateway::Stage": {"CKV_AWS_120"},  # no cache of live PHI
    "AWS::S3::Bucket": {"CKV_AWS_18"},  # only the access-log bucket: it is the log destination
}


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


@pytest.fixture(scope="module")
def report(synthesized: Synthesized) -> dict[str, Any]:
    return checkov.run(sorted(synthesized.outdir.glob("*.template.json")))


def test_checkov_finds_nothing_unexplained(report: dict[str, Any]) -> None:
    assert [str(f) for f in checkov.unexplained(report)] == []
    assert report["summary"]["passed"] > 300 and report["summary"]["parsing_errors"] == 0


def test_the_suppressions_are_exactly_the_documented_ones(
    report: dict[str, Any], synthesized: Synthesized
) -> None:
    by_kind: dict[str, set[str]] = {}
    for check_id, resource, reason in checkov.skipped(report):
        by_kind.setdefault(resource.split(".")[0], set()).add(check_id)
        assert len(reason) >= checkov.MIN_REASON_LENGTH
    assert by_kind == EXPECTED_SKIPS
    skipped_buckets = {r for c, r, _ in checkov.skipped(report) if c == "CKV_AWS_18"}
    assert len(skipped_buckets) == 1 and "AccessLogs" in skipped_buckets.pop()


def test_lambda_environments_are_encrypted_with_the_project_key(synthesized: Synthesized) -> None:
    functions = {
        name: fn
        for t in synthesized.raw.values()
        for name, fn in resources(t, "AWS::Lambda::Function").items()
    }
    assert len(functions) >= 9
    for name, fn in functions.items():
        key = fn["Properties"].get("KmsKeyArn")
        assert key is not None, f"{name}: environment not encrypted with the project key (CKV_AWS_173)"
        assert "Fn::GetStackOutput" in key and "EncryptionKey" in json.dumps(key), name


def test_the_gate_fails_on_a_finding_without_a_suppression_or_without_a_reason(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    template = copy.deepcopy(synthesized.json(synthesized.stacks.sync))
    functions = sorted(  # functions with both skips (one invoked asynchronously has a real DLQ instead)
        name
        for name, fn in resources(template, "AWS::Lambda::Function").items()
        if {"CKV_AWS_116", "CKV_AWS_117"}
        <= {s["id"] for s in fn.get("Metadata", {}).get("checkov", {}).get("skip", [])}
    )
    unsuppressed, unexplained, unencrypted = functions[:3]
    del template["Resources"][unsuppressed]["Metadata"]["checkov"]
    for skip in template["Resources"][unexplained]["Metadata"]["checkov"]["skip"]:
        skip["comment"] = "ok"
    del template["Resources"][unencrypted]["Properties"]["KmsKeyArn"]
    path = tmp_path / "tampered.template.json"
    path.write_text(json.dumps(template))

    found = {
        (f.check_id, f.resource.split(".")[1], f.problem) for f in checkov.unexplained(checkov.run([path]))
    }

    assert found == {
        ("CKV_AWS_116", unsuppressed, "failed"),
        ("CKV_AWS_117", unsuppressed, "failed"),
        ("CKV_AWS_116", unexplained, "skipped without a reason"),
        ("CKV_AWS_117", unexplained, "skipped without a reason"),
        ("CKV_AWS_173", unencrypted, "failed"),
    }


def test_a_suppression_needs_a_written_reason() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_sqs as sqs

    stack = cdk.Stack(cdk.App(), "S")
    queue = sqs.Queue(stack, "Q")
    with pytest.raises(ValueError, match="specific reason"):
        checkov.skip(queue, "CKV_AWS_27", "because")
    checkov.skip(queue, "CKV_AWS_27", "a reason long enough to tell the next engineer why this is fine")
    checkov.skip(queue, "CKV_AWS_27", "the same check again replaces the first reason instead of adding one")
    metadata = cdk.assertions.Template.from_stack(stack).find_resources("AWS::SQS::Queue")
    (resource,) = metadata.values()
    assert resource["Metadata"]["checkov"]["skip"] == [
        {
            "id": "CKV_AWS_27",
            "comment": "the same check again replaces the first reason instead of adding one",
        }
    ]
