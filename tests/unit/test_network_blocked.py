import socket

import pytest
import requests

from tests.unit.conftest import NetworkBlocked

pytestmark = pytest.mark.unit


def test_the_network_is_blocked_in_unit_tests() -> None:
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with pytest.raises((NetworkBlocked, requests.ConnectionError)):
        requests.get("http://127.0.0.1:9/", timeout=1)
