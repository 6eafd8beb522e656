"""Tiers by directory: each directory of tests/ declares the tier markers its tests may carry.

``pytest -m TIER`` (one tier's name, as ``make unit`` runs it) then does not import the directories
that hold no test of that tier: pytest would deselect all of their tests anyway, after importing them,
and importing tests/infra alone starts the CDK's node process (a few seconds of the unit tier). Any other
``-m`` expression collects everything, as pytest does.

What keeps the declaration true: every collected test's tier markers must be among its directory's
(checked in each run that collects the directory, so ``make test`` checks them all); a test marked
``unit`` in a directory that does not declare it fails the collection instead of going unrun.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

TIER_MARKERS = frozenset({"unit", "contract", "workflow", "api", "infra", "scale", "cli"})

TIERS: dict[str, frozenset[str]] = {
    "api": frozenset({"api", "unit"}),
    "cli": frozenset({"cli", "workflow"}),
    "contract": frozenset({"contract"}),
    "infra": frozenset({"infra"}),
    "scale": frozenset({"scale"}),
    "sync": frozenset({"workflow"}),
    "unit": frozenset({"unit"}),
    "workflow": frozenset({"workflow"}),
}


def _tier_directory(path: Path) -> str | None:
    try:
        parts = path.resolve().relative_to(TESTS).parts
    except ValueError:
        return None
    return parts[0] if parts and parts[0] in TIERS else None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    wanted = config.getoption("markexpr", "").strip()
    directory = _tier_directory(collection_path)
    if wanted in TIER_MARKERS and directory is not None and wanted not in TIERS[directory]:
        return True
    return None  # let the other rules (and pytest's defaults) decide


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Before ``-m`` deselects: every collected test is checked against its directory."""
    undeclared = []
    for item in items:
        directory = _tier_directory(item.path)
        if directory is None:
            continue
        extra = {m.name for m in item.iter_markers()} & TIER_MARKERS - TIERS[directory]
        if extra:
            undeclared.append(f"{item.nodeid}: {', '.join(sorted(extra))}")
    if undeclared:
        raise pytest.UsageError(
            "tests marked with a tier their directory does not declare (tests/conftest.py TIERS):\n  "
            + "\n  ".join(undeclared)
        )


def pytest_collection_finish(session: pytest.Session) -> None:
    """The cyclic garbage collector, tuned for a test run (measured on the unit tier: its sweeps took
    ~4 s of ~30 s of CPU, 1.4 s after this). What imports and collection created lives to the end of
    the run: ``gc.freeze`` takes it out of the sweeps, each of which otherwise walks every module,
    plugin and collected test again. The tests themselves import large libraries (moto's services,
    matplotlib), so full sweeps also come 10 times less often (the youngest generations, where short
    cycles die, are swept as before)."""
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 100)
