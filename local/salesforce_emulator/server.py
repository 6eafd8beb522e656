"""``SalesforceEmulator``: the local Salesforce, started and stopped from Python (CLI, tests, bench).

    creds = SalesforceCredentials.generate()
    emu = SalesforceEmulator(state_dir, ensure_tls(tls_dir), creds)
    emu.start()       # HTTPS on 127.0.0.1, a free port unless ``port`` is given
    emu.instance_url  # https://127.0.0.1:PORT
    emu.stop()

State (SQLite, Bulk job files, the JWT signing key) lives in ``state_dir``; starting again with the
same directory finds the same records, tokens, jobs and daily API usage.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path
from typing import Any

from local.httpserver import BackgroundServer
from local.salesforce_emulator import ids
from local.salesforce_emulator.app import create_app
from local.salesforce_emulator.auth import (
    ConnectedAppCertificate,
    OAuth,
    SalesforceCredentials,
    ensure_jwt_key,
)
from local.salesforce_emulator.bulk import BulkJobs
from local.salesforce_emulator.faults import Faults
from local.salesforce_emulator.metadata import load_schema
from local.salesforce_emulator.records import Records
from local.salesforce_emulator.routes.query import Cursors
from local.salesforce_emulator.store import Store
from local.salesforce_emulator.web import Counters
from local.tls import TlsMaterial

__all__ = ["DEFAULT_METADATA_DIR", "SalesforceCredentials", "SalesforceEmulator"]

DEFAULT_METADATA_DIR = Path(__file__).resolve().parents[2] / "salesforce"
ORG_ID = ids.make_id("00D", 1)
USER_ID = ids.make_id("005", 1)


def decompress_requests(app: Any) -> Any:
    """WSGI middleware: decode ``Content-Encoding: gzip|deflate`` request bodies, as the REST API does.

    A body that does not decode is answered like Salesforce answers a malformed body (400); any
    other content coding is refused with 415.
    """

    def middleware(environ: dict[str, Any], start_response: Any) -> Any:
        coding = environ.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        if coding in ("", "identity"):
            return app(environ, start_response)
        if coding not in ("gzip", "deflate"):
            return _error(start_response, "415 Unsupported Media Type", "UNSUPPORTED_MEDIA_TYPE", coding)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            body = gzip.decompress(raw) if coding == "gzip" else zlib.decompress(raw)
        except (OSError, zlib.error, EOFError):
            return _error(
                start_response, "400 Bad Request", "JSON_PARSER_ERROR", "the compressed body is corrupt"
            )
        environ = dict(environ, CONTENT_LENGTH=str(len(body)))
        environ["wsgi.input"] = io.BytesIO(body)
        environ.pop("HTTP_CONTENT_ENCODING", None)
        return app(environ, start_response)

    return middleware


def _error(start_response: Any, status: str, code: str, message: str) -> list[bytes]:
    body = json.dumps([{"errorCode": code, "message": message}]).encode()
    start_response(
        status, [("Content-Type", "application/json;charset=UTF-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


class SalesforceEmulator:
    def __init__(
        self,
        state_dir: Path,
        tls: TlsMaterial,
        credentials: SalesforceCredentials,
        *,
        port: int = 0,
        metadata_dir: Path = DEFAULT_METADATA_DIR,
        token_ttl_s: int = 7200,
        daily_api_limit: int = 100_000,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.credentials = credentials
        self.daily_api_limit = daily_api_limit
        self.schema = load_schema(Path(metadata_dir))
        self.store = Store(self.state_dir / "salesforce.sqlite3", self.schema)
        self.jwt_private_key_path, default_certificate = ensure_jwt_key(self.state_dir)
        self.faults = Faults()
        self.counters = Counters()
        self.cursors = Cursors()
        self.oauth = OAuth(
            credentials,
            self.store,
            token_ttl_s=token_ttl_s,
            certificate=ConnectedAppCertificate(self.state_dir, default_certificate),
            org_id=ORG_ID,
            user_id=USER_ID,
        )
        self.records = Records(self.store, self.schema)
        self.bulk = BulkJobs(
            self.store, self.schema, self.records, self.faults, self.state_dir / "jobs", USER_ID
        )
        self.app = create_app(self)
        self._server = BackgroundServer(
            decompress_requests(self.app),
            port=port,
            ssl_context=tls.server_context(),
            name="salesforce-emulator",
        )
        self._started = False

    @property
    def instance_url(self) -> str:
        return self._server.url

    @property
    def token_url(self) -> str:
        return self.instance_url + "/services/oauth2/token"

    @property
    def admin_url(self) -> str:
        return self.instance_url + "/__admin"

    @property
    def endpoints(self) -> dict[str, str]:
        """Where it answers: what ``python -m local.salesforce_emulator`` prints when ready."""
        return {
            "instance_url": self.instance_url,
            "token_url": self.token_url,
            "admin_url": self.admin_url,
            "jwt_private_key": str(self.jwt_private_key_path),
        }

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> SalesforceEmulator:
        self.bulk.start()
        self._server.start()
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._server.stop()
            self.bulk.stop()
            self._started = False
        self.store.close()

    def reset(self) -> None:
        """Wipe records, jobs, counters, faults and cursors; keep schema, credentials and tokens."""
        self.store.wipe()
        self.counters.reset()
        self.faults.clear()
        self.bulk.release_held()  # held jobs were wiped with the store: they are skipped
        self.cursors.clear()
        for job_dir in (self.state_dir / "jobs").glob("*"):
            if job_dir.is_dir():
                for f in job_dir.iterdir():
                    f.unlink(missing_ok=True)
                job_dir.rmdir()

    def __enter__(self) -> SalesforceEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
