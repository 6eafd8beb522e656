"""``claimsync preview``: run the transformation rules offline on a report file and show what a sync
would send and what it would reject, and why. No AWS, no Salesforce: payor mappings come from an
optional JSON file (a list of Payor_Mapping__c records), otherwise every payer shows as unmapped."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from claimsync.mapping_file import load_mapping
from claimsync.payors import PayorIndex
from claimsync.report import SourceRow, iter_member_rows
from claimsync.transform import claim_keys, find_superseded, transform_page


def read_report_file(path: Path) -> list[SourceRow]:
    """A report file read exactly as a sync reads the report's member: through ``claimsync.report``.

    The format comes from the suffix (``.json`` / ``.csv``), else from the first character."""
    data = path.read_bytes()
    name = path.name
    if path.suffix.lower() not in (".json", ".csv"):
        name += ".json" if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{") else ".csv"
    return list(iter_member_rows(name, io.BytesIO(data)))


def preview(
    report_file: Path, *, payor_mappings: Path | None = None, mapping_file: Path | None = None
) -> dict[str, Any]:
    mapping = load_mapping(mapping_file)
    source = list(enumerate(read_report_file(report_file), start=1))
    rows = [(n, row.values) for n, row in source]
    repaired = {n: row.invalid_text for n, row in source if row.invalid_text}
    payors = PayorIndex.from_records(json.loads(payor_mappings.read_text()) if payor_mappings else [])
    superseded = find_superseded(claim_keys(rows, mapping), mapping.key_rule.length or 50)
    result = transform_page(rows, superseded, mapping, payors, repaired)
    reasons = Counter(code for rej in result.rejected for code in {r.code for r in rej.reasons})
    return {
        "rows_in": len(rows),
        "would_send": len(result.records),
        "rejected": len(result.rejected),
        "reject_reasons": dict(sorted(reasons.items())),
        "rejects": [
            {
                "row_number": rej.row_number,
                "claim_id": rej.claim_id,
                "reasons": [f"{r.code}:{r.column}" if r.column else r.code for r in rej.reasons],
            }
            for rej in sorted(result.rejected, key=lambda r: r.row_number)
        ],
        "unmapped_payers": [
            {"payer_id": pid, "payer_name": name, "claims": n}
            for (pid, name), n in sorted(result.unmapped.items())
        ],
    }


def format_preview(result: dict[str, Any], limit: int = 20) -> str:
    lines = [
        f"{result['rows_in']} rows: {result['would_send']} would be sent, {result['rejected']} rejected",
    ]
    for code, n in result["reject_reasons"].items():
        lines.append(f"  {code}: {n}")
    for rej in result["rejects"][:limit]:
        lines.append(
            f"  row {rej['row_number']} (claim {rej['claim_id'] or '-'}): {', '.join(rej['reasons'])}"
        )
    if len(result["rejects"]) > limit:
        lines.append(f"  ... {len(result['rejects']) - limit} more rejects (use --json for all)")
    for payer in result["unmapped_payers"][:limit]:
        lines.append(
            f"  unmapped payer {payer['payer_id']} {payer['payer_name']!r}: {payer['claims']} claims"
        )
    return "\n".join(lines)
