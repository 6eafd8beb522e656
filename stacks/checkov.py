"""checkov on the synthesized templates: suppressions written into the template, each with its reason.

checkov reads ``Metadata.checkov.skip`` of a CloudFormation resource (``[{"id": "CKV_AWS_116",
"comment": "why"}]``); ``skip`` puts one there on the narrowest construct, next to the matching
cdk-nag acknowledgment. ``run`` runs checkov (its own virtual environment ``.venv-checkov``, made by
``make checkov-setup``: its dependencies pin other versions than the project's tools) offline, and
``unexplained`` lists what must fail the build: a failed check, a skip without a reason, a template
checkov could not parse.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from constructs import IConstruct

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKOV_BIN = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
MIN_REASON_LENGTH = 40


def skip(scope: IConstruct, check_id: str, reason: str) -> None:
    """Suppress one checkov check on ``scope``'s CloudFormation resource, with a written reason."""
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"checkov skip of {check_id} needs a specific reason, not {reason!r}")
    resource = scope if isinstance(scope, cdk.CfnResource) else scope.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise TypeError(f"{scope.node.path} has no CloudFormation resource to carry a checkov skip")
    metadata = resource.get_metadata("checkov") or {}
    skips = [s for s in metadata.get("skip", []) if s["id"] != check_id]
    resource.add_metadata("checkov", {**metadata, "skip": [*skips, {"id": check_id, "comment": reason}]})


@dataclass(frozen=True)
class Finding:
    check_id: str
    resource: str
    file: str
    problem: str  # "failed", "skipped without a reason", "parse error"

    def __str__(self) -> str:
        return f"{self.check_id} {self.problem}: {self.resource} ({Path(self.file).name})"


def run(templates: Sequence[Path], checkov_bin: Path = CHECKOV_BIN) -> dict[str, Any]:
    """checkov's JSON report for ``templates`` (CloudFormation framework, nothing downloaded)."""
    if not checkov_bin.exists():
        raise FileNotFoundError(f"{checkov_bin} is missing: run `make checkov-setup`")
    files = [arg for t in templates for arg in ("--file", str(t))]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run(
        [str(checkov_bin), "--framework", "cloudformation", "--skip-download", "--compact",
         "--output", "json", *files],
        capture_output=True, text=True, env=env, check=False, timeout=600,
    )  # fmt: skip
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f"checkov exited {result.returncode}: {result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    return {"results": {"failed_checks": [], "skipped_checks": []}, "summary": {}} if report == [] else report


def unexplained(report: dict[str, Any] | list[dict[str, Any]]) -> list[Finding]:
    """Every finding that fails the build: failed checks, skips without a reason, parse errors."""
    found: list[Finding] = []
    for part in report if isinstance(report, list) else [report]:
        results = part.get("results", {})
        for check in results.get("failed_checks", []):
            found.append(Finding(check["check_id"], check["resource"], check["file_path"], "failed"))
        for check in results.get("skipped_checks", []):
            comment = (check.get("check_result") or {}).get("suppress_comment") or ""
            if len(comment.strip()) < MIN_REASON_LENGTH:
                found.append(
                    Finding(
                        check["check_id"], check["resource"], check["file_path"], "skipped without a reason"
                    )
                )
        for path in results.get("parsing_errors", []):
            found.append(Finding("-", "-", str(path), "parse error"))
    return found


def skipped(report: dict[str, Any] | list[dict[str, Any]]) -> Iterable[tuple[str, str, str]]:
    """(check id, resource, reason) of every explained suppression."""
    for part in report if isinstance(report, list) else [report]:
        for check in part.get("results", {}).get("skipped_checks", []):
            yield check["check_id"], check["resource"], check["check_result"].get("suppress_comment", "")
