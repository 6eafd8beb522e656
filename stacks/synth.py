"""``python -m stacks.synth``: synthesize every stack offline, then lint every template.

1. ``npx --no-install cdk synth`` with the CLI pinned in package.json (``npm ci`` installs it). No AWS
   credentials are needed or used: the stacks are environment-agnostic unless cdk.json names an
   account/region, and nothing looks anything up. cdk-nag (AwsSolutions + HIPAA.Security) runs
   inside the synth: an unacknowledged finding makes it exit non-zero, with the findings printed and
   written to ``cdk.out/validation-report.json``.
2. ``cfn-lint`` on every ``*.template.json`` in the output directory: any error (or a warning other
   than the ignored ones below) fails.
3. ``checkov`` (CloudFormation checks, offline, from its own ``.venv-checkov``) on the same
   templates: any failed check, or a suppression without a written reason (``stacks.checkov.skip``),
   fails; the report is written to ``cdk.out/checkov-report.json``.

Exit status: 0 only when all three pass. Prints the wall time of each step.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# W3005: CDK writes an explicit DependsOn on a Lambda's role next to the GetAtt that already implies it.
CFN_LINT_IGNORED = ("W3005",)


def synth_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    env["CDK_DISABLE_VERSION_CHECK"] = "1"  # the CLI would otherwise ask npm for a newer version
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    # Proof that synth needs no AWS account: hide any credentials the caller has.
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def cdk_synth(outdir: Path) -> int:
    cli = REPO_ROOT / "node_modules" / ".bin" / "cdk"
    if not cli.exists():
        print("the CDK CLI is not installed: run `npm ci` (package.json pins it)", file=sys.stderr)
        return 2
    return subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "--quiet", "--no-notices", "--output", str(outdir)],
        cwd=REPO_ROOT,
        env=synth_environment(),
        check=False,
    ).returncode


def cfn_lint(outdir: Path) -> int:
    templates = sorted(outdir.glob("*.template.json"))
    if not templates:
        print(f"no templates in {outdir}", file=sys.stderr)
        return 2
    cfn_lint_bin = Path(sys.executable).with_name("cfn-lint")
    cmd = [str(cfn_lint_bin) if cfn_lint_bin.exists() else "cfn-lint", "--ignore-checks", *CFN_LINT_IGNORED]
    result = subprocess.run([*cmd, "--", *map(str, templates)], check=False)
    print(f"cfn-lint: {len(templates)} templates, exit {result.returncode}")
    return result.returncode


def run_checkov(outdir: Path) -> int:
    from stacks import checkov

    templates = sorted(outdir.glob("*.template.json"))
    try:
        report = checkov.run(templates)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"checkov: {exc}", file=sys.stderr)
        return 2
    (outdir / "checkov-report.json").write_text(json.dumps(report, indent=1))
    findings = checkov.unexplained(report)
    explained = list(checkov.skipped(report))
    for finding in findings:
        print(f"checkov: {finding}", file=sys.stderr)
    summary = report.get("summary", {}) if isinstance(report, dict) else {}
    print(
        f"checkov: {len(templates)} templates, {summary.get('passed', '?')} passed, "
        f"{len(explained)} suppressed with a reason, {len(findings)} unexplained"
    )
    return 1 if findings else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, default=REPO_ROOT / "cdk.out")
    parser.add_argument("--clean", action="store_true", help="remove the output directory first")
    args = parser.parse_args(argv)
    if args.clean:
        shutil.rmtree(args.outdir, ignore_errors=True)

    started = time.perf_counter()
    rc = cdk_synth(args.outdir)
    print(f"cdk synth: exit {rc} in {time.perf_counter() - started:.1f} s")
    if rc != 0:
        report = args.outdir / "validation-report.json"
        if report.exists():
            print(f"cdk-nag findings: {report}", file=sys.stderr)
        return rc
    started = time.perf_counter()
    rc = cfn_lint(args.outdir)
    print(f"cfn-lint: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    checkov_rc = run_checkov(args.outdir)
    print(f"checkov: {time.perf_counter() - started:.1f} s")
    return rc or checkov_rc


if __name__ == "__main__":
    raise SystemExit(main())
