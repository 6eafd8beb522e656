"""The Lambda code asset: right architecture, right Python, glibc the runtime has, importable alone.

Two bundles, one code path (``stacks.bundling.build_bundle``):

* the **deployed** one (arm64 / CPython 3.12, from the synthesized cloud assembly): every compiled
  extension is an AArch64 ELF for cp312 (or abi3), no wheel or binary needs glibc newer than the
  runtime's 2.34. This host (x86_64) cannot execute it.
* an **x86_64 / CPython 3.11 variant** built with the same function and other platform parameters,
  which this host *can* execute: every handler module imports from it in a clean interpreter whose
  path holds only the bundle (plus boto3, which the Lambda runtime provides), so a missing module,
  a missing data file or an import-time dependency on the environment shows up here.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from claimsync import layout
from stacks.api_stack import CRM_HANDLER
from stacks.bundling import BundleTarget, build_bundle, bundle_requirements, normalize, runtime_provided_dir
from tests.infra.conftest import Synthesized

pytestmark = pytest.mark.infra

EM_X86_64, EM_AARCH64 = 62, 183
# Every Lambda entry point the stacks deploy: (module, function).
ENTRY_POINTS = sorted(
    tuple(handler.rsplit(".", 1))
    for handler in [
        *(spec.handler for spec in (*layout.SYNC_FUNCTIONS, *layout.EVENT_FUNCTIONS)),
        CRM_HANDLER,
    ]
)


def elf_machine(path: Path) -> tuple[int, int]:
    """(EI_CLASS, e_machine) of an ELF file (little-endian, as both Lambda architectures are)."""
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return header[4], struct.unpack_from("<H", header, 18)[0]


def glibc_requirements(path: Path) -> list[tuple[int, int]]:
    out = subprocess.run(
        ["readelf", "--version-info", "--wide", str(path)], capture_output=True, text=True, check=True
    )
    return [(int(a), int(b)) for a, b in re.findall(r"GLIBC_(\d+)\.(\d+)", out.stdout)]


@pytest.fixture(scope="module")
def deployed_bundle(synthesized: Synthesized) -> Path:
    code = [
        fn["Properties"]["Code"]["S3Key"]
        for t in synthesized.raw.values()
        for fn in t["Resources"].values()
        if fn["Type"] == "AWS::Lambda::Function"
    ]
    assert len(set(code)) == 1, "one shared code asset for every function"
    bundle = synthesized.asset_dir(synthesized.stacks.sync, code[0])
    assert bundle.is_dir()
    return bundle


def extensions(bundle: Path) -> list[Path]:
    found = sorted(p for p in bundle.rglob("*.so*") if p.is_file())
    assert found, "the bundle has compiled extensions (cryptography, lxml, ...)"
    return found


def test_deployed_bundle_binaries_are_aarch64_for_cp312(deployed_bundle: Path) -> None:
    tag = BundleTarget(python_version="3.12", architecture="aarch64").abi_tag
    for so in extensions(deployed_bundle):
        assert elf_machine(so) == (2, EM_AARCH64), (
            f"{so.relative_to(deployed_bundle)} is not a 64-bit AArch64 ELF"
        )
        name = so.name
        if ".cpython-" in name:
            assert f".{tag}.so" in name, f"{name} is built for another Python"
        elif not (
            name.endswith(".abi3.so") or ".libs" in so.parent.name or ".so." in name or name.startswith("lib")
        ):
            pytest.fail(f"{name}: neither a cp312 extension, abi3, nor a vendored library")


def test_deployed_bundle_needs_no_newer_glibc_than_the_runtime(deployed_bundle: Path) -> None:
    wheel_tags = [
        tag
        for wheel in deployed_bundle.glob("*.dist-info/WHEEL")
        for tag in re.findall(r"^Tag: (.+)$", wheel.read_text(), flags=re.MULTILINE)
    ]
    assert wheel_tags
    for tag in wheel_tags:
        platform = tag.split("-")[-1]
        if platform == "any":
            continue
        for part in platform.split("."):
            if part.startswith("manylinux2014_"):
                glibc = (2, 17)
            else:
                found = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", part)
                assert found, f"unexpected platform tag {part}"
                glibc = (int(found[1]), int(found[2]))
            assert glibc <= (2, 34), f"{tag} needs glibc {glibc}"
            assert part.endswith("_aarch64"), tag
    if shutil.which("readelf") is None:
        pytest.skip("readelf not installed: symbol versions not checked (wheel tags were)")
    for so in extensions(deployed_bundle):
        needed = glibc_requirements(so)
        assert max(needed, default=(0, 0)) <= (2, 34), f"{so.name} needs GLIBC_{max(needed)}"


def test_deployed_bundle_is_code_plus_dependencies_without_boto3(deployed_bundle: Path) -> None:
    assert (deployed_bundle / "handlers" / "crm_api.py").exists()
    assert (deployed_bundle / "claimsync" / "mapping_default.json").exists()
    assert (deployed_bundle / "aws_lambda_powertools").is_dir()
    assert not (deployed_bundle / "boto3").exists() and not (deployed_bundle / "botocore").exists()
    # the run page's plotting library is a development dependency (claimsync report runs locally)
    assert not (deployed_bundle / "matplotlib").exists() and not (deployed_bundle / "numpy").exists()
    assert not (deployed_bundle / "local").exists()
    assert not list(deployed_bundle.rglob("__pycache__"))
    for package in ("handlers", "claimsync"):
        assert not list((deployed_bundle / package).rglob("test_*.py"))


def test_deployed_bundle_holds_exactly_the_locked_runtime_closure(deployed_bundle: Path) -> None:
    """What pip installed (dist-info name and version) is what requirements.lock pins, no more."""
    installed = {}
    for metadata in deployed_bundle.glob("*.dist-info/METADATA"):
        fields = dict(re.findall(r"^(Name|Version): (.+)$", metadata.read_text(), flags=re.MULTILINE))
        installed[normalize(fields["Name"])] = fields["Version"]
    locked = dict(line.split(" ", 1)[0].split("==") for line in bundle_requirements())
    assert installed == locked
    assert "rsa" not in installed and "cryptography" not in installed


@pytest.fixture(scope="module")
def host_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same build for this host's platform (x86_64, CPython 3.11) and the runtime's boto3."""
    assert sys.version_info[:2] == (3, 11), "the host variant is built for the interpreter running the tests"
    target = BundleTarget(python_version="3.11", architecture="x86_64")
    out = tmp_path_factory.mktemp("bundle-x86_64-cp311")
    build_bundle(out, target)
    for so in extensions(out):
        assert elf_machine(so) == (2, EM_X86_64)
    return out, runtime_provided_dir(target)


@pytest.mark.parametrize(("module", "function"), ENTRY_POINTS)
def test_handler_imports_from_the_bundle_alone(
    host_bundle: tuple[Path, Path], module: str, function: str
) -> None:
    bundle, runtime = host_bundle
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; "
        "import importlib; m = importlib.import_module(sys.argv[3]); "
        "assert callable(getattr(m, sys.argv[4])), sys.argv[4]; "
        "bad = [n for n, mod in sys.modules.items() if getattr(mod, '__file__', None) and "
        "not mod.__file__.startswith((sys.argv[1], sys.argv[2], sys.base_prefix))]; "
        "assert not bad, bad"
    )
    # -S: no site-packages, -E: no PYTHON* variables, -B: no bytecode in the bundle; empty environment.
    result = subprocess.run(
        [sys.executable, "-S", "-E", "-B", "-c", probe, str(bundle), str(runtime), module, function],
        env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
