"""The OpenAPI document: generated from the handler, committed, consistent with the route table, and
honoured by the running API (schemathesis: no 5xx, every response conforming to the document)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from claimsync.crm import ERROR_CODES
from claimsync.crm.openapi import build_openapi, render
from claimsync.crm.routes import ROUTES, allowed_methods, match_path
from handlers import _crm_edge, crm_api
from tests.api.conftest import Api

pytestmark = pytest.mark.api

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = REPO / "docs" / "openapi.json"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SCHEMATHESIS_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "unsupported_method",
    "allow_header_conformance",
)


def test_committed_document_is_current() -> None:
    expected = render(_crm_edge.openapi_document(crm_api.app))
    assert DOCUMENT.read_text(encoding="utf-8") == expected, (
        "docs/openapi.json is stale: regenerate with"
        " `.venv/bin/python -m handlers.crm_api --openapi > docs/openapi.json`"
    )


def test_document_routes_equal_route_table_equal_resolver() -> None:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    in_document = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    in_table = {(r.method, r.path) for r in ROUTES}
    in_resolver = set(_crm_edge.registered_routes(crm_api.app))
    assert len(ROUTES) == len(in_table) == 15
    assert in_document == in_table == in_resolver


def test_build_refuses_routes_without_operations() -> None:
    with pytest.raises(ValueError, match="routes without an operation"):
        build_openapi([*_crm_edge.registered_routes(crm_api.app), ("GET", "/leads")])
    with pytest.raises(ValueError, match="operations without a route"):
        build_openapi(_crm_edge.registered_routes(crm_api.app)[1:])


def test_error_codes_in_the_document_are_the_refusals() -> None:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    assert document["components"]["schemas"]["Error"]["properties"]["error_code"]["enum"] == list(ERROR_CODES)
    source = (REPO / "lambdas" / "claimsync" / "crm" / "refusals.py").read_text(encoding="utf-8")
    for code in ERROR_CODES:
        assert f'"{code}"' in source, f"{code} is documented but never produced"


def test_route_matching_used_for_resources() -> None:
    assert match_path("/accounts/001abc") == ("/accounts/{account_id}", {"account_id": "001abc"})
    assert match_path("/batch/accounts") == ("/batch/accounts", {})
    assert match_path("/accounts/001/x") is None
    assert allowed_methods("/contacts/x") == ["GET", "PATCH", "DELETE"]
    assert allowed_methods("/nope") == []


def test_schemathesis_finds_no_server_error_and_no_schema_violation(api: Api, tmp_path: Path) -> None:
    report = tmp_path / "schemathesis.json"
    command = [
        str(SCHEMATHESIS),
        "run",
        str(DOCUMENT),
        "--url",
        api.url,
        "--checks",
        ",".join(SCHEMATHESIS_CHECKS),
        "--max-examples",
        "20",
        "--seed",
        "4242",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False)
    assert report.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(report.read_text())
    cases = result["test_cases"]
    print(
        f"\nschemathesis: {cases['generated']} generated test cases, {cases['with_failures']} with failures"
    )
    assert run.returncode == 0, run.stdout[-6000:]
    assert result["operations"]["tested"] == len(ROUTES)
    assert result["failures"] == [] and result["errors"] == []
    assert cases["generated"] >= 500 and cases["with_failures"] == 0 and cases["errored"] == 0
