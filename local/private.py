"""Files that hold generated secrets (credentials, private keys, the endpoints file): owner-only.

``write_private`` creates the file with mode 0600 from the first byte (never a world-readable moment
followed by a chmod) and replaces it atomically, so a reader in another process sees the old or the
new content, never half of it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE_MODE = 0o600


def write_private(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` as an owner-only (0600) file, atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.chmod(path, PRIVATE_MODE)  # no-op for mkstemp's file; documents the contract
