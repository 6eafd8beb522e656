"""The CollaborateMD emulator's faults, in the shape both emulators share (``local/faults.py``).

HTTP-level faults (``delay``, ``http_status``) target a call (``on``: ``run``, ``results`` or ``*``);
the report-level ones fire where the report logic meets them: ``start_status`` on a start that would
succeed, ``results_status`` on a poll of a running report, ``corrupt_zip`` and ``malformed_member``
on a ``SUCCESS`` reply.
"""

from __future__ import annotations

from local.faults import FaultCatalog, FaultKind, Param, integer, number, one_of

from .engine import ERROR, REPORT_RUNNING, REPORT_TIMED_OUT

MAX_DELAY_S = 600.0

CATALOG = FaultCatalog(
    [
        FaultKind(
            "http_status",
            params=(Param("status", integer("status", 500, 599)),),
            targets=frozenset({"run", "results"}),
        ),
        FaultKind(
            "delay",
            params=(Param("seconds", number("seconds", 0, MAX_DELAY_S, low_open=True)),),
            targets=frozenset({"run", "results"}),
        ),
        FaultKind("start_status", params=(Param("status", one_of("status", REPORT_RUNNING, ERROR)),)),
        FaultKind("results_status", params=(Param("status", one_of("status", REPORT_TIMED_OUT, ERROR)),)),
        FaultKind("corrupt_zip"),
        FaultKind("malformed_member"),
    ]
)
