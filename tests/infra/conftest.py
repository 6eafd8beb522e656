"""Synthesize the real app once per test session (the cdk.json context, a temporary outdir).

Synth takes seconds (and runs cdk-nag: an unacknowledged finding raises right here), so every infra
test reads the templates of this one synthesis.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks.assembly import ClaimsyncApp, build
from stacks.config import InfraConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = REPO_ROOT / "cdk.json"


@dataclass
class Synthesized:
    config: InfraConfig
    stacks: ClaimsyncApp
    outdir: Path
    raw: dict[str, dict[str, Any]]  # stack name -> template JSON
    validation_report: dict[str, Any]

    def template(self, stack: cdk.Stack) -> Template:
        return Template.from_json(self.raw[stack.stack_name])

    def json(self, stack: cdk.Stack) -> dict[str, Any]:
        return self.raw[stack.stack_name]

    def asset_dir(self, stack: cdk.Stack, s3_key: str) -> Path:
        return self.outdir / f"asset.{s3_key.removesuffix('.zip')}"


def synthesize(outdir: Path, **overrides: Any) -> Synthesized:
    context = {**json.loads(CDK_JSON.read_text())["context"], **overrides}
    app = cdk.App(outdir=str(outdir), context=context)
    config = InfraConfig.from_context(app.node.try_get_context)
    stacks = build(app, config)
    assembly = app.synth()
    raw = {s.stack_name: s.template for s in assembly.stacks}
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {"pluginReports": []}
    return Synthesized(config, stacks, outdir, raw, report)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    yield synthesize(tmp_path_factory.mktemp("cdk.out"))
