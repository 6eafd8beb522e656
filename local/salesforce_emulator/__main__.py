"""Run the Salesforce emulator on its own: ``python -m local.salesforce_emulator --state-dir D``.

Prints one JSON line with the endpoints and the credentials file when ready, then serves until
SIGINT/SIGTERM (or, with ``--parent-pipe``, until standard input closes). ``claimsync local up``
runs it this way (see ``local/emulator_process.py``), and so does the benchmark, which measures the
emulator's memory apart from the client's; it is also handy for poking at the emulator by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from local.emulator_process import emulator_parser, load_or_create, serve
from local.salesforce_emulator.server import DEFAULT_METADATA_DIR, SalesforceCredentials, SalesforceEmulator
from local.tls import ensure_tls


def main(argv: list[str] | None = None) -> int:
    parser = emulator_parser("local.salesforce_emulator", __doc__)
    parser.add_argument("--tls-dir", type=Path, help="default: <state-dir>/tls")
    parser.add_argument("--metadata-dir", type=Path, default=DEFAULT_METADATA_DIR)
    parser.add_argument("--daily-api-limit", type=int, default=100_000)
    args = parser.parse_args(argv)

    state_dir: Path = args.state_dir
    tls = ensure_tls(args.tls_dir or state_dir / "tls")
    creds_path: Path = args.credentials or state_dir / "credentials.json"
    creds = load_or_create(creds_path, SalesforceCredentials)

    emu = SalesforceEmulator(
        state_dir / "salesforce",
        tls,
        creds,
        port=args.port,
        metadata_dir=args.metadata_dir,
        daily_api_limit=args.daily_api_limit,
    )

    def start() -> dict[str, Any]:
        emu.start()
        return {**emu.endpoints, "ca_cert": str(tls.ca_cert), "credentials": str(creds_path)}

    return serve(start, emu.stop, parent_pipe=args.parent_pipe)


if __name__ == "__main__":
    raise SystemExit(main())
