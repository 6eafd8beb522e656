"""CheckReport stages a large report without holding it: a memory bound, measured, not a timing.

The report (200,000 claims, ~30 MB of ZIP, ~130 MB of JSON) is built before measuring; then the real
step runs over in-memory S3 and a CollaborateMD fake that writes the ZIP to the step's spool file.
Python's peak heap during the step (tracemalloc) must stay far below what holding the report costs:
the code this replaced peaked at ~3 KB per claim (~600 MB here).
"""

from __future__ import annotations

import gc
import io
import json
import tracemalloc
import zipfile

import pytest

from claimsync import layout
from claimsync.steps.report import ReportRequest, ReportStaged, ReportTask, check_report
from claimsync.steps.run import Run
from local.collaboratemd_emulator.generator import GeneratorSettings, generate_rows
from tests.unit.fakes import FakeDeps

pytestmark = pytest.mark.scale

CLAIMS = 200_000
PEAK_LIMIT_MB = 64


def report_zip(claims: int) -> bytes:
    rows = generate_rows(GeneratorSettings(claims=claims, seed=5))
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("report.json", "w") as member,
    ):
        member.write(b"[")
        for i, row in enumerate(rows):
            member.write((b"," if i else b"") + json.dumps(row).encode())
        member.write(b"]")
    return buf.getvalue()


def test_check_report_stages_200k_claims_in_bounded_memory():
    deps = FakeDeps()
    deps.collaboratemd.data = report_zip(CLAIMS)
    gc.collect()
    run = Run("run-big", "t")
    tracemalloc.start()
    try:
        staged = check_report(deps, ReportTask(run, ReportRequest("req", 20, int(deps.now) + 600)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(staged, ReportStaged) and staged.rows_in == CLAIMS
    # the staged pages themselves live in the fake S3 (they are counted: ~100 MB would show up)
    staged_bytes = sum(len(v) for k, v in deps.s3.objects.items() if k.startswith(layout.run_key(run.run_id)))
    peak_mb = (peak - staged_bytes) / 1e6
    assert peak_mb < PEAK_LIMIT_MB, f"peak heap {peak_mb:.0f} MB beyond the staged pages"
