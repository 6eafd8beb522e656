"""``make bench``: every benchmark, one after the other; JSON results in bench/results/."""

from __future__ import annotations

import sys
from pathlib import Path

from bench import bulk_upsert, claim_sync, crm_api, jwt_signing, scale, synth

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    steps = [
        ("Bulk API 2.0 upsert of 100,000 rows into the Salesforce emulator", bulk_upsert.main, ["--rows", "100000"]),
        ("claim sync: 100k full, 1 % incremental, one-call-per-claim baseline", claim_sync.main,
         ["--out", str(RESULTS / "claim_sync.json")]),
        ("scale: full syncs of 10k, 100k, 300k, 1M claims and a 1 % incremental at 1M (docs/performance.md)",
         scale.main, []),
        ("CRM API: 1,000 warm requests, session reused vs login per request", crm_api.main, []),
        ("CDK synth (first and cached), bundle size, handler cold imports", synth.main, []),
        ("JWT-bearer signing: rsa vs PyJWT + cryptography vs KMS (bundle, cold start, latency)",
         jwt_signing.main, []),
    ]  # fmt: skip
    for title, func, args in steps:
        print(f"\n=== {title} ===", flush=True)
        rc = func(args)
        if rc:
            return int(rc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
