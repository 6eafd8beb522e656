"""The local API server: the API Gateway event it builds, and ``serve`` as a process stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from local.api_server import to_event, to_response
from tests.api.conftest import Api, ok

pytestmark = pytest.mark.api


def _request(path: str, **kwargs: Any) -> Request:
    builder = EnvironBuilder(path=path, **kwargs)
    environ = builder.get_environ()
    environ["REQUEST_URI"] = path if "query_string" not in kwargs else f"{path}?{kwargs['query_string']}"
    return Request(environ)


def test_event_for_a_routed_request() -> None:
    request = _request(
        "/accounts/0015g0000000001AAA",
        method="PATCH",
        headers=[("X-Trace", "a"), ("X-Trace", "b"), ("Content-Type", "application/json")],
        query_string="x=1&x=2&y=3",
        data=b'{"Phone": "1"}',
    )
    event = to_event(request)
    assert event["resource"] == "/accounts/{account_id}"
    assert event["path"] == "/accounts/0015g0000000001AAA"
    assert event["httpMethod"] == "PATCH"
    assert event["pathParameters"] == {"account_id": "0015g0000000001AAA"}
    # WSGI joins a repeated header into one value; API Gateway would list both.
    assert event["multiValueHeaders"]["X-Trace"] == ["a, b"] and event["headers"]["X-Trace"] == "a, b"
    assert event["multiValueHeaders"]["Content-Type"] == ["application/json"]
    assert event["queryStringParameters"] == {"x": "2", "y": "3"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["3"]}
    assert event["body"] == '{"Phone": "1"}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["resourcePath"] == "/accounts/{account_id}" and context["stage"] == "local"
    assert context["identity"]["sourceIp"] and context["requestId"]


def test_event_keeps_the_path_encoded_and_decodes_parameters() -> None:
    event = to_event(_request("/contacts/a%20b"))
    assert event["path"] == "/contacts/a%20b"
    assert event["pathParameters"] == {"contact_id": "a b"}


def test_event_for_binary_and_empty_bodies() -> None:
    event = to_event(_request("/accounts", method="POST", data=b"\xff\xfe"))
    assert event["isBase64Encoded"] is True and event["body"] == "//4="
    event = to_event(_request("/health"))
    assert event["body"] is None and event["pathParameters"] is None and event["resource"] == "/health"
    assert to_event(_request("/nowhere"))["resource"] == "/nowhere"


def test_response_translation() -> None:
    response = to_response(
        {
            "statusCode": 429,
            "multiValueHeaders": {"Retry-After": ["30"], "Content-Type": ["application/json"]},
            "body": "{}",
        }
    )
    assert response.status_code == 429 and response.headers["Retry-After"] == "30"


def test_serve_runs_until_sigterm(api: Api, tmp_path: Path) -> None:
    (tmp_path / "endpoints.json").write_text(json.dumps(api.endpoints))
    env = {**os.environ, "CLAIMSYNC_STATE_DIR": str(tmp_path), "POWERTOOLS_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "local.api_server", "0"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = json.loads(process.stdout.readline())
        url = line["crm_api"]["url"]
        assert ok(requests.get(url + "/health", timeout=30))["status"] == "healthy"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
