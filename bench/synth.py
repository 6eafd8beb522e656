"""Infrastructure figures: synth time (cold and cached), bundle size, cold import time per handler.

    .venv/bin/python -m bench.synth [--skip-synth] [--repeat N]

- synth: ``npx cdk synth`` through ``stacks.synth`` (offline, no credentials), first with the
  dependency cache of the deployed target removed (what a fresh clone pays), then again cached;
  cfn-lint timed separately.
- size: the deployed asset (arm64, CPython 3.12) unzipped: dependencies and code; and zipped. Every
  function deploys the same asset, so each function's figure is that total.
- import: each handler module imported in a clean interpreter (``-S -E -B``: no site-packages, no
  bytecode cache — like a Lambda cold start, whose read-only code directory holds no .pyc) from the
  x86_64 / CPython 3.11 variant of the bundle, because this host cannot execute the arm64 one.
  Median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from claimsync import layout
from stacks import synth
from stacks.api_stack import CRM_HANDLER
from stacks.bundling import (
    CACHE_DIR,
    CODE_IGNORE,
    LAMBDAS_DIR,
    BundleTarget,
    build_bundle,
    dependencies_dir,
    runtime_provided_dir,
)

DEPLOYED = BundleTarget(python_version="3.12", architecture="aarch64")
HOST = BundleTarget(python_version=f"{sys.version_info[0]}.{sys.version_info[1]}", architecture="x86_64")
SIZE_TARGET_MB = 20
IMPORT_TARGET_S = 1.0


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def mb(size: float) -> str:
    return f"{size / 1_000_000:.1f} MB"


def timed_synth(outdir: Path) -> float:
    started = time.perf_counter()
    rc = synth.cdk_synth(outdir)
    if rc != 0:
        raise SystemExit(f"cdk synth failed (exit {rc})")
    return time.perf_counter() - started


def bench_synth() -> None:
    for stale in CACHE_DIR.glob(f"deps-py{DEPLOYED.python_version}-{DEPLOYED.architecture}-*"):
        shutil.rmtree(stale)
    with tempfile.TemporaryDirectory() as tmp:
        cold = timed_synth(Path(tmp) / "cold")
        cached = timed_synth(Path(tmp) / "cached")
        started = time.perf_counter()
        lint_rc = synth.cfn_lint(Path(tmp) / "cached")
        lint = time.perf_counter() - started
    print(
        f"synth (npx cdk synth, 3 stacks, cdk-nag): first {cold:.1f} s (empty bundle cache), cached {cached:.1f} s"
    )
    print(f"cfn-lint (3 templates): {lint:.1f} s, exit {lint_rc}")


def bench_size() -> None:
    deps = dependencies_dir(DEPLOYED)
    code = sum(
        tree_size(p) for p in LAMBDAS_DIR.iterdir() if p.is_dir() and p.name not in CODE_IGNORE
    )  # approximate: includes any local __pycache__
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        build_bundle(bundle, DEPLOYED)
        total = tree_size(bundle)
        archive = Path(tmp) / "bundle.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(bundle.rglob("*")):
                zf.write(path, path.relative_to(bundle))
        zipped = archive.stat().st_size
        largest = sorted(
            ((tree_size(p) if p.is_dir() else p.stat().st_size, p.name) for p in bundle.iterdir()),
            reverse=True,
        )[:6]
    print(f"bundle ({DEPLOYED.architecture}, cp{DEPLOYED.python_version.replace('.', '')}):")
    print(
        f"  dependencies unzipped {mb(tree_size(deps))}, code ~{mb(code)}, total {mb(total)}, zipped {mb(zipped)}"
    )
    print("  largest: " + ", ".join(f"{name} {mb(size)}" for size, name in largest))
    verdict = "within" if tree_size(deps) < SIZE_TARGET_MB * 1_000_000 else "OVER"
    print(
        f"  per function (one shared asset): {mb(total)} — {verdict} the {SIZE_TARGET_MB} MB dependency target"
    )


def bench_imports(repeat: int) -> None:
    entry_points = sorted(
        {spec.handler.rsplit(".", 1)[0] for spec in layout.SYNC_FUNCTIONS} | {CRM_HANDLER.rsplit(".", 1)[0]}
    )
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        build_bundle(bundle, HOST)
        runtime = runtime_provided_dir(HOST)
        probe = (
            "import sys, time; sys.path[:0] = [sys.argv[1], sys.argv[2]]; t = time.perf_counter(); "
            "__import__(sys.argv[3]); print(time.perf_counter() - t)"
        )
        print(
            f"cold import (x86_64 / cp{HOST.python_version.replace('.', '')} variant, no bytecode, median of {repeat}):"
        )
        for module in entry_points:
            samples = []
            for _ in range(repeat):
                out = subprocess.run(
                    [sys.executable, "-S", "-E", "-B", "-c", probe, str(bundle), str(runtime), module],
                    env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
                    capture_output=True,
                    text=True,
                    check=True,
                )
                samples.append(float(out.stdout.strip()))
            median = statistics.median(samples)
            flag = "" if median < IMPORT_TARGET_S else f"  (over the {IMPORT_TARGET_S:.0f} s target)"
            print(f"  {module:32s} {median * 1000:7.0f} ms{flag}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="infrastructure figures")
    parser.add_argument("--skip-synth", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.skip_synth:
        bench_synth()
    bench_size()
    bench_imports(args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
