"""The CollaborateMD claims generator at 100,000 claims (``make bench``'s default size): its time is
reported, not asserted. Its rules are checked at 20,000 claims in tests/unit/test_cmd_generator.py."""

from __future__ import annotations

import time

import pytest

from local.collaboratemd_emulator.generator import GeneratorSettings, generate_rows

pytestmark = pytest.mark.scale


def test_generation_time_for_100k_claims() -> None:
    started = time.perf_counter()
    rows = generate_rows(GeneratorSettings(claims=100_000, seed=1))
    elapsed = time.perf_counter() - started
    print(f"\ngenerated {len(rows)} CollaborateMD rows in {elapsed:.2f} s")  # reported, not asserted
    assert len(rows) == 100_000
