"""The dependency declarations agree: requirements*.txt pins, their hashed locks, pyproject.toml.

``make setup`` installs requirements-dev.lock and the Lambda bundle installs from requirements.lock,
both in pip's hash-checking mode, so a pin edited without ``make lock`` would silently not apply;
these tests catch it (they read files only: no network, no pip).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from stacks.bundling import (
    RUNTIME_PROVIDED,
    LockedRequirement,
    bundle_requirements,
    normalize,
    read_lock,
    runtime_provided_requirements,
)

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {
    "requirements.txt": "requirements.lock",
    "requirements-dev.txt": "requirements-dev.lock",
    "requirements-checkov.txt": "requirements-checkov.lock",
}
PIN = re.compile(r"^([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^\s;#]+)$")


def pins(path: Path) -> dict[str, str]:
    """name -> version of a requirements file's own pins (``-r``/``-c`` lines excluded)."""
    found = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(("-r ", "-c ")):
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: {line!r} is not an exact pin (name==version)"
        found[normalize(match[1])] = match[3]
    return found


def version(entry: LockedRequirement) -> str:
    return entry.line.split(" ", 1)[0].split("==", 1)[1]


@pytest.mark.parametrize(("source", "lock"), sorted(LOCKS.items()))
def test_every_pin_is_in_its_lock_at_the_same_version_and_every_lock_entry_has_hashes(
    source: str, lock: str
) -> None:
    entries = read_lock(ROOT / lock)
    for name, pinned in pins(ROOT / source).items():
        assert name in entries, f"{name} is pinned in {source} but missing from {lock}: run `make lock`"
        assert version(entries[name]) == pinned, (
            f"{name}: {source} says {pinned}, {lock} {version(entries[name])}"
        )
    for name, entry in entries.items():
        assert re.match(r"^[a-z0-9-]+==\S+$", entry.line.split(" ", 1)[0]), entry.line
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry.line), f"{lock}: {name} has no hash"
        assert entry.via, f"{lock}: {name} has no '# via' annotation (regenerate with `make lock`)"


def test_the_dev_lock_holds_the_runtime_lock_unchanged() -> None:
    runtime, dev = read_lock(ROOT / "requirements.lock"), read_lock(ROOT / "requirements-dev.lock")
    for name, entry in runtime.items():
        assert name in dev, f"{name} of requirements.lock is missing from requirements-dev.lock"
        assert set(dev[name].line.split()) == set(entry.line.split()), f"{name}: the two locks disagree"
    assert {"pip", "setuptools"} <= set(dev), "make setup installs pip and setuptools from the lock too"


def test_pyproject_declares_exactly_the_runtime_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {}
    for requirement in project["dependencies"]:
        match = PIN.match(requirement.replace(" ", ""))
        assert match, f"pyproject.toml: {requirement!r} is not an exact pin"
        declared[normalize(match[1])] = match[3]
    assert declared == pins(ROOT / "requirements.txt")


def test_the_bundle_installs_the_runtime_closure_without_what_the_runtime_provides() -> None:
    bundled = {line.split("==")[0] for line in bundle_requirements()}
    assert bundled == {
        "aws-lambda-powertools", "jmespath", "typing-extensions",  # powertools
        "requests", "certifi", "charset-normalizer", "idna", "urllib3",  # requests
    }  # fmt: skip
    assert not bundled & RUNTIME_PROVIDED
    assert not bundled & {"python-dateutil", "six"}, "boto3-only dependencies stay out of the bundle"
    provided = {line.split("==")[0] for line in runtime_provided_requirements()}
    assert {"boto3", "botocore", "s3transfer"} <= provided
    assert all(
        "--hash=sha256:" in line for line in [*bundle_requirements(), *runtime_provided_requirements()]
    )


def test_no_archived_or_replaced_package_comes_back() -> None:
    runtime = read_lock(ROOT / "requirements.lock")
    assert not {"rsa", "pyasn1", "cryptography", "pyjwt"} & set(runtime), (
        "the JWT grant signs with KMS: no crypto library in the Lambda runtime (docs/architecture.md)"
    )
