"""Lambda code packaging without Docker: the code of ``lambdas/`` plus manylinux wheels.

The original system died in production with ``GLIBC_2.28 not found``: its dependencies were built on
the wrong platform. Here pip installs the locked runtime dependencies for the *function's* platform,
never the host's: ``--platform manylinux…_<arch> --implementation cp --python-version <runtime>
--only-binary=:all:``, accepting only manylinux tags the Lambda runtime's glibc satisfies (Python
3.12+ runtimes run on Amazon Linux 2023, glibc 2.34). No compiler, no Docker, any host.

What is installed comes from ``requirements.lock`` (``pip-compile --generate-hashes`` of
``requirements.txt``), with ``--require-hashes``: the runtime's top-level pins minus what the Lambda
runtime provides (boto3), plus exactly what the lock says they need. A wheel whose hash is not in
the lock, or a dependency the lock does not list, fails the build.

The dependency install is cached under ``.bundle-cache/`` by a hash of the locked lines, the target
(Python version, architecture, platform tags) and this module's recipe version, so repeated synths
only copy files. The code (handlers + the ``claimsync`` package) is copied fresh every time.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDAS_DIR = REPO_ROOT / "lambdas"
REQUIREMENTS_LOCK = REPO_ROOT / "requirements.lock"  # pip-compile --generate-hashes of requirements.txt
CACHE_DIR = REPO_ROOT / ".bundle-cache"

RECIPE_VERSION = "2"  # bump when the way the bundle is built changes: invalidates the cache
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


@dataclass(frozen=True)
class LockedRequirement:
    """One entry of a pip-compile lock: ``name==version`` with its hashes, and who needs it."""

    name: str  # normalized (PEP 503)
    line: str  # ``name==version --hash=sha256:… …``, one line for pip
    via: frozenset[str]  # normalized names of the packages that need it, or ``-r <file>`` for a top-level pin


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(lock: Path = REQUIREMENTS_LOCK) -> dict[str, LockedRequirement]:
    """The entries of a lock written by ``pip-compile --generate-hashes`` (annotations on)."""
    entries: dict[str, LockedRequirement] = {}
    name, parts, via = "", list[str](), set[str]()

    def flush() -> None:
        if name:
            entries[normalize(name)] = LockedRequirement(normalize(name), " ".join(parts), frozenset(via))

    in_via = False
    for raw in lock.read_text().splitlines():
        line = raw.strip()
        if not raw.startswith((" ", "#")) and "==" in line:
            flush()
            requirement = line.rstrip("\\").strip()
            name, parts, via, in_via = requirement.split("==")[0].split("[")[0], [requirement], set(), False
        elif line.startswith("--hash="):
            parts.append(line.rstrip("\\").strip())
        elif line.startswith("# via"):
            rest = line.removeprefix("# via").strip()
            in_via = not rest
            if rest:
                via.add(rest if rest.startswith("-") else normalize(rest))
        elif in_via and line.startswith("#   "):
            item = line.removeprefix("#").strip()
            via.add(item if item.startswith("-") else normalize(item.split(" ")[0]))
        else:
            in_via = False
    flush()
    return entries


def closure(lock: dict[str, LockedRequirement], roots: set[str]) -> list[LockedRequirement]:
    """``roots`` and everything they need, transitively, as the lock records it (its ``via``)."""
    needed = {normalize(r) for r in roots}
    missing = needed - set(lock)
    if missing:
        raise ValueError(f"not in the lock: {sorted(missing)}")
    while True:
        more = {name for name, entry in lock.items() if name not in needed and entry.via & needed}
        if not more:
            return [lock[name] for name in sorted(needed)]
        needed |= more


def top_level(lock: dict[str, LockedRequirement]) -> set[str]:
    return {name for name, entry in lock.items() if any(v.startswith("-r ") for v in entry.via)}


def bundle_requirements(lock: Path = REQUIREMENTS_LOCK) -> list[str]:
    """The hashed lines to bundle: the runtime's top-level pins except what the Lambda runtime
    provides, and what they need. Not boto3's own dependencies (python-dateutil, six, …) unless a
    bundled package needs them too."""
    entries = read_lock(lock)
    return [e.line for e in closure(entries, top_level(entries) - RUNTIME_PROVIDED)]


def runtime_provided_requirements(lock: Path = REQUIREMENTS_LOCK) -> list[str]:
    """The hashed lines of what the Lambda runtime provides (boto3 and its dependencies)."""
    entries = read_lock(lock)
    return [e.line for e in closure(entries, top_level(entries) & RUNTIME_PROVIDED)]


def dependencies_dir(
    target: BundleTarget, lock: Path = REQUIREMENTS_LOCK, cache_dir: Path = CACHE_DIR
) -> Path:
    """The installed dependencies for ``target``: from the cache, or installed now with pip."""
    return _install("deps", bundle_requirements(lock), target, cache_dir)


def runtime_provided_dir(
    target: BundleTarget, lock: Path = REQUIREMENTS_LOCK, cache_dir: Path = CACHE_DIR
) -> Path:
    """What the Lambda runtime itself provides (boto3 at the locked version), for the import tests
    and benchmarks that load a bundle on this host. Never part of the deployed asset."""
    return _install("runtime", runtime_provided_requirements(lock), target, cache_dir)


def install_requirements(
    label: str, lines: list[str], target: BundleTarget, cache_dir: Path = CACHE_DIR, *, hashed: bool = True
) -> Path:
    """``lines`` installed for ``target`` into the cache (or found there). ``hashed=False`` only for
    measurements of candidates that are not in a lock (bench/); nothing deployed is installed so."""
    return _install(label, lines, target, cache_dir, hashed=hashed)


def _install(
    label: str, lines: list[str], target: BundleTarget, cache_dir: Path, *, hashed: bool = True
) -> Path:
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
                *(["--require-hashes"] if hashed else []),  # the lock's hashes; anything unlisted fails
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
            # jsii.implements makes it an ILocalBundling at run time; mypy cannot see the decorator's effect.
            local=cast(cdk.ILocalBundling, ManylinuxLocalBundling(target)),
        ),
    )
