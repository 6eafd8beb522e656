"""Run the CollaborateMD emulator on its own: ``python -m local.collaboratemd_emulator --state-dir D``.

It serves the rows saved in ``D`` (``collaboratemd_rows.json``: what it served last, or what
:func:`~local.collaboratemd_emulator.server.write_rows_file` put there), over HTTPS when ``--tls-dir``
is given. Prints one JSON line with its URLs when ready, then serves until SIGINT/SIGTERM (or, with
``--parent-pipe``, until standard input closes): this is how ``claimsync local up`` runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from local.collaboratemd_emulator.server import CmdCredentials, CollaborateMDEmulator
from local.emulator_process import emulator_parser, load_or_create, serve
from local.tls import ensure_tls


def main(argv: list[str] | None = None) -> int:
    parser = emulator_parser("local.collaboratemd_emulator", __doc__)
    parser.add_argument("--tls-dir", type=Path, help="HTTPS with this CA and certificate; default: HTTP")
    parser.add_argument("--running-polls", type=int, default=2)
    args = parser.parse_args(argv)

    state_dir: Path = args.state_dir
    creds_path: Path = args.credentials or state_dir / "credentials.json"
    creds = load_or_create(creds_path, CmdCredentials)
    emu = CollaborateMDEmulator(
        state_dir,
        creds,
        tls=ensure_tls(args.tls_dir) if args.tls_dir else None,
        port=args.port,
        running_polls=args.running_polls,
    )

    def start() -> dict[str, Any]:
        emu.start()
        return {"url": emu.url, "admin_url": emu.admin_url, "credentials": str(creds_path)}

    return serve(start, emu.stop, parent_pipe=args.parent_pipe)


if __name__ == "__main__":
    raise SystemExit(main())
