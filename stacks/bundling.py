"""Lambda code packaging without Docker: the code of ``lambdas/`` plus manylinux wheels.

The original system died in production with ``GLIBC_2.28 not found``: its dependencies were built on
the wrong platform. Here pip resolves ``requirements.txt`` for the *function's* platform, never the
host's: ``--platform manylinux…_<arch> --implementation cp --python-version <runtime>
--only-binary=:all:``, accepting only manylinux tags the Lambda runtime's glibc satisfies (Python
3.12+ runtimes run on Amazon Linux 2023, glibc 2.34). No compiler, no Docker, any host.

The dependency install is cached under ``.bundle-cache/`` by a hash of the requirements, the target
(Python version, architecture, platform tags) and this module's recipe version, so repeated synths
only copy files. The code (handlers + the ``claimsync`` package) is copied fresh every time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDAS_DIR = REPO_ROOT / "lambdas"
REQUIREMENTS = REPO_ROOT / "requirements.txt"
CACHE_DIR = REPO_ROOT / ".bundle-cache"

RECIPE_VERSION = "1"  # bump when the way the bundle is built changes: invalidates the cache
RUNTIME_GLIBC = (2, 34)  # Amazon Linux 2023, the OS of the python3.12 / python3.13 Lambda runtimes
OLDEST_MANYLINUX_GLIBC = (2, 17)  # manylinux2014
# Provided by the Lambda runtime; bundling them would shadow the runtime's (and add ~25 MB).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
# Never part of the deployed code.
CODE_IGNORE = ("__pycache__", "*.pyc", "*.pyo", "tests", "test_*.py", ".mypy_cache", ".pytest_cache")
# Files of installed distributions that are never used at run time.
DEPENDENCY_PRUNE = ("__pycache__", "*.pyc", "*.pyx", "*.pxd", "*.pxi", "*.h", "sboms")


@dataclass(frozen=True)
class BundleTarget:
    """Where the code runs: CPython version and machine architecture (pip's spelling)."""

    python_version: str = "3.12"
    architecture: str = "aarch64"  # "aarch64" (Lambda arm64) or "x86_64"
    max_glibc: tuple[int, int] = RUNTIME_GLIBC

    @property
    def platforms(self) -> list[str]:
        """Every manylinux tag the runtime can load, newest first (pip needs them listed)."""
        major, newest = self.max_glibc
        tags = [f"manylinux_{major}_{minor}_{self.architecture}" for minor in range(newest, 16, -1)]
        return [*tags, f"manylinux2014_{self.architecture}"]

    @property
    def abi_tag(self) -> str:
        return f"cpython-{self.python_version.replace('.', '')}-{self.architecture}-linux-gnu"

    @classmethod
    def for_lambda(cls, python_version: str, architecture: lambda_.Architecture) -> BundleTarget:
        arch = "aarch64" if architecture.name == lambda_.Architecture.ARM_64.name else "x86_64"
        return cls(python_version=python_version, architecture=arch)


def bundle_requirements(requirements: Path = REQUIREMENTS) -> list[str]:
    """The requirement lines to install: requirements.txt minus what the runtime provides."""
    lines = []
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name = line.split("==")[0].split("[")[0].split(">")[0].split("<")[0].strip().lower()
        if name.replace("_", "-") not in RUNTIME_PROVIDED:
            lines.append(line)
    return lines


def dependencies_dir(
    target: BundleTarget, requirements: Path = REQUIREMENTS, cache_dir: Path = CACHE_DIR
) -> Path:
    """The installed dependencies for ``target``: from the cache, or installed now with pip."""
    return _install("deps", bundle_requirements(requirements), target, cache_dir)


def runtime_provided_dir(
    target: BundleTarget, requirements: Path = REQUIREMENTS, cache_dir: Path = CACHE_DIR
) -> Path:
    """What the Lambda runtime itself provides (boto3 at the pinned version), for the import tests
    and benchmarks that load a bundle on this host. Never part of the deployed asset."""
    pinned = [
        line.split("#", 1)[0].strip()
        for line in requirements.read_text().splitlines()
        if line.split("==")[0].strip().lower() in RUNTIME_PROVIDED
    ]
    return _install("runtime", pinned, target, cache_dir)


def install_requirements(label: str, lines: list[str], target: BundleTarget, cache_dir: Path = CACHE_DIR) -> Path:
    """``lines`` installed for ``target`` into the cache (or found there): the directory."""
    return _install(label, lines, target, cache_dir)


def _install(label: str, lines: list[str], target: BundleTarget, cache_dir: Path) -> Path:
    key = hashlib.sha256(
        "\n".join(
            [RECIPE_VERSION, target.python_version, target.architecture, *target.platforms, *lines]
        ).encode()
    ).hexdigest()[:20]
    final = cache_dir / f"{label}-py{target.python_version}-{target.architecture}-{key}"
    if (final / ".complete").exists():
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=cache_dir))
    try:
        req_file = work / "requirements.txt"
        req_file.write_text("\n".join(lines) + "\n")
        install = work / "site"
        platform_args = [arg for tag in target.platforms for arg in ("--platform", tag)]
        subprocess.run(
            [
                sys.executable, "-m", "pip", "install",
                "--quiet", "--quiet", "--disable-pip-version-check", "--no-compile", "--no-cache-dir",
                *platform_args,
                "--implementation", "cp",
                "--python-version", target.python_version,
                "--only-binary=:all:",
                "--target", str(install),
                "-r", str(req_file),
            ],
            check=True,
        )  # fmt: skip
        _prune(install)
        (install / ".complete").write_text(key + "\n")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(install, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def build_bundle(output_dir: Path, target: BundleTarget, *, cache_dir: Path = CACHE_DIR) -> None:
    """Fill ``output_dir`` with the dependencies for ``target`` and a fresh copy of the code."""
    deps = dependencies_dir(target, cache_dir=cache_dir)
    shutil.copytree(deps, output_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete"))
    for package in sorted(p for p in LAMBDAS_DIR.iterdir() if (p / "__init__.py").exists()):
        shutil.copytree(
            package,
            output_dir / package.name,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(*CODE_IGNORE),
        )


def _prune(site: Path) -> None:
    patterns = shutil.ignore_patterns(*DEPENDENCY_PRUNE)
    for directory, subdirs, files in os.walk(site, topdown=True):
        doomed = patterns(directory, [*subdirs, *files])
        for name in doomed:
            path = Path(directory, name)
            if path.is_dir():
                shutil.rmtree(path)
                subdirs.remove(name)
            else:
                path.unlink()


@jsii.implements(cdk.ILocalBundling)
class ManylinuxLocalBundling:
    """CDK local bundling: runs on the synthesizing machine, so Docker is never needed."""

    def __init__(self, target: BundleTarget) -> None:
        self.target = target

    def try_bundle(self, output_dir: str, options: cdk.BundlingOptions) -> bool:
        build_bundle(Path(output_dir), self.target)
        return True


def lambda_code(target: BundleTarget) -> lambda_.Code:
    """One asset shared by every function: handlers + ``claimsync`` + the target's wheels."""
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        # The output hash covers code, dependencies and target: a new requirement pin redeploys.
        asset_hash_type=cdk.AssetHashType.OUTPUT,
        exclude=list(CODE_IGNORE),
        bundling=cdk.BundlingOptions(
            image=cdk.DockerImage.from_registry("unused-local-bundling-only"),
            local=ManylinuxLocalBundling(target),
        ),
    )
