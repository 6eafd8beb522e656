"""Unit tests run with the network blocked: a test that opens a connection (to anything, loopback
included) fails, so the unit tier cannot silently depend on a server or the internet.

botocore's service descriptions are parsed once for the whole tier (see ``_one_botocore_loader``)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import boto3
import botocore.loaders
import botocore.session
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


class _SharedLoader(botocore.loaders.Loader):
    """One loader for every botocore session of the tier, with boto3's data path included once (a boto3
    session appends it to ``search_paths``: here it appends to a copy)."""

    def __init__(self) -> None:
        super().__init__(extra_search_paths=[os.path.join(os.path.dirname(boto3.__file__), "data")])

    @property
    def search_paths(self) -> list[str]:
        return list(self._search_paths)


@pytest.fixture(scope="session", autouse=True)
def _one_botocore_loader() -> Iterator[None]:
    """A botocore session parses the JSON service descriptions it needs (endpoints, partitions, each
    service's model and rules: ~0.1 s of CPU per client) into its own loader's cache. moto gives every
    ``mock_aws`` a fresh default session and the operator verbs make their own, so each AWS test
    re-parsed the same files: ~10 s of the tier's CPU. Sessions share one loader here, as the clients
    of one session share theirs: the parsed descriptions are read-only. Each test still has its own
    sessions, clients and moto backends."""
    shared = _SharedLoader()
    original = botocore.session.create_loader

    def create_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        return shared if search_path_string is None else original(search_path_string)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", create_loader)
        yield
