"""The one-line detail of a phase (``7,500 rows in 3 page(s)``), from the outputs of its tasks.

A task's output is read from its ``*Succeeded`` history event: counts, modes and statuses only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from claimsync.history import Event, event_details, json_object


def task_output(event: Event) -> dict[str, Any]:
    """The result of a succeeded task (the lambda:invoke integration wraps it in ``Payload``)."""
    output = json_object(event_details(event).get("output"))
    if isinstance(output.get("Payload"), dict):
        return dict(output["Payload"])
    return output


def report_text(output: Mapping[str, Any]) -> str:
    """CheckReport, once the report is READY."""
    rows, pages = number(output.get("rows_in")), number(output.get("page_count"))
    return f"{count(rows)} rows in {count(pages)} page(s)"


def payors_text(output: Mapping[str, Any]) -> str:
    """LoadPayors."""
    return f"{count(number(output.get('payor_mappings')))} payor mappings"


def transform_text(counts: Mapping[str, int], *, dry_run: bool) -> str:
    """The TransformPage counts summed so far (``sent``, ``unchanged``, ``rejected``)."""
    verb = "would send" if dry_run else "to send"
    return (
        f"{count(counts['sent'])} {verb}, {count(counts['unchanged'])} unchanged, "
        f"{count(counts['rejected'])} rejected"
    )


def upload_text(output: Mapping[str, Any]) -> str:
    """StartUpload: how the changed claims went (or would go) to Salesforce."""
    mode = output.get("mode")
    to_send = count(number(output.get("sent")))
    if mode == "DRY_RUN":
        return f"dry run: nothing written ({to_send} would be sent)"
    if mode == "NONE":
        return "nothing to send"
    if mode == "COLLECTIONS":
        return f"{to_send} sent through sObject Collections"
    if mode == "BULK":
        return f"{to_send} sent in {count(number(output.get('jobs')))} Bulk job(s)"
    return f"{to_send} to send"


def number(value: Any) -> float | None:
    """A count of an output (a number, or a number as text); ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def count(value: float | None) -> str:
    return "?" if value is None else f"{int(value):,}"
