"""tests/conftest.py: ``pytest -m TIER`` leaves out the directories that hold no test of the tier, and a
test marked with a tier its directory does not declare fails the collection (pytest in-process, on a
copy of the conftest over a small tree of tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.unit

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
INI = "[pytest]\naddopts = -p no:cacheprovider --disable-plugin-autoload\nmarkers =\n" + "".join(
    f"    {m}: a tier\n" for m in ("unit", "contract", "workflow", "api", "infra", "scale", "cli")
)


def tree(pytester: pytest.Pytester, infra: str) -> None:
    pytester.makeini(INI)
    tests = pytester.mkdir("tests")
    (tests / "conftest.py").write_text(CONFTEST.read_text())
    for name, body in {
        "unit": "import pytest\npytestmark = pytest.mark.unit\ndef test_pure():\n    pass\n",
        "api": "import pytest\n@pytest.mark.unit\ndef test_domain():\n    pass\n"
        "@pytest.mark.api\ndef test_http():\n    pass\n",
        "infra": infra,
    }.items():
        (tests / name).mkdir()
        (tests / name / f"test_{name}.py").write_text(body)


INFRA = "import pytest\npytestmark = pytest.mark.infra\nraise RuntimeError('tests/infra imported')\n"


def test_one_tier_by_name_does_not_import_the_other_tiers_directories(pytester: pytest.Pytester) -> None:
    tree(pytester, INFRA)
    pytester.runpytest("-m", "unit").assert_outcomes(passed=2, deselected=1)
    # any other expression collects everything, as pytest does (here: the infra module, which fails)
    pytester.runpytest("-m", "not infra").assert_outcomes(errors=1)


def test_a_tier_mark_the_directory_does_not_declare_fails_the_collection(pytester: pytest.Pytester) -> None:
    tree(
        pytester,
        "import pytest\npytestmark = [pytest.mark.infra, pytest.mark.unit]\ndef test_t():\n    pass\n",
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*tests/infra/test_infra.py::test_t: unit*"])
