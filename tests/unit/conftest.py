"""Unit tests run with the network blocked: a test that opens a connection (to anything, loopback
included) fails, so the unit tier cannot silently depend on a server or the internet."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(self: socket.socket, *args: object, **kwargs: object) -> None:
        if self.family == socket.AF_UNIX:
            return original_connect(self, *args, **kwargs)  # type: ignore[arg-type]
        raise NetworkBlocked("unit tests have no network: use a fake at the domain seam")

    original_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(socket.socket(), *a))
    yield
