"""Run a WSGI application on a loopback port in a background thread (HTTP or HTTPS)."""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

# werkzeug logs every request line (paths and query strings, which can carry SOQL literals) at INFO.
# The local world keeps request data out of logs just like production does.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


class BackgroundServer:
    """A threaded werkzeug server bound to loopback. ``port=0`` picks a free port."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        name: str = "server",
    ) -> None:
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, ssl_context=ssl_context)
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self._scheme = "https" if ssl_context else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}"

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
