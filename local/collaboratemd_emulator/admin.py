"""The emulator's admin interface under ``/__admin``: JSON in, JSON out, loopback callers only, no auth.

It drives the same ``ReportEngine`` the report calls use. Bad input is answered with HTTP 400 and
``{"error": "..."}``; messages never echo row values. README.md documents every endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from local.faults import FaultError

from .engine import EngineInputError, ReportEngine
from .faults import CATALOG
from .generator import GeneratorSettings, generate_report
from .reportfile import ReportFileError, normalize_rows, parse_report_bytes, rows_from_json_value

ADMIN_PREFIX = "/__admin"
MAX_GENERATED_CLAIMS = 2_000_000
_LOOPBACK = frozenset({"127.0.0.1", "::1"})


def admin_blueprint(engine: ReportEngine) -> Blueprint:
    """The ``/__admin`` routes over ``engine``: rows, configuration, faults, counters, reset."""
    bp = Blueprint("collaboratemd_admin", __name__, url_prefix=ADMIN_PREFIX)
    bp.before_request(_loopback_only)
    bp.register_error_handler(EngineInputError, _bad_input)
    bp.register_error_handler(ReportFileError, _bad_input)
    bp.register_error_handler(FaultError, _bad_input)
    rows, report = RowsAdmin(engine), ReportAdmin(engine)
    routes: list[tuple[str, str, Callable[[], Response]]] = [
        ("GET", "", report.overview),
        ("GET", "/rows", rows.get),
        ("PUT", "/rows", rows.put),
        ("PATCH", "/rows", rows.patch),
        ("POST", "/generate", rows.generate),
        ("POST", "/mutate", rows.mutate),
        ("GET", "/config", report.get_config),
        ("POST", "/config", report.set_config),
        ("GET", "/faults", report.get_faults),
        ("POST", "/faults", report.add_faults),
        ("DELETE", "/faults", report.clear_faults),
        ("GET", "/calls", report.calls),
        ("POST", "/running", report.set_running),
        ("POST", "/reset", report.reset),
    ]
    for method, rule, view in routes:
        bp.add_url_rule(rule, f"{method.lower()}_{view.__name__}", view, methods=[method])
    return bp


def _loopback_only() -> Response | None:
    if request.remote_addr not in _LOOPBACK:
        return _json({"error": "the admin interface answers loopback callers only"}, 403)
    return None


def _bad_input(exc: Exception) -> Response:
    return _json({"error": str(exc)}, 400)


class RowsAdmin:
    """The rows the report serves: read, replace, edit, generate, mutate."""

    def __init__(self, engine: ReportEngine) -> None:
        self.engine = engine

    def get(self) -> Response:
        rows = self.engine.rows()
        limit_text = request.args.get("limit")
        if limit_text is not None:
            if not limit_text.isdigit():
                raise EngineInputError("limit must be a non-negative integer")
            rows = rows[: int(limit_text)]
        return _json({"count": len(self.engine.rows()), "rows": rows})

    def put(self) -> Response:
        data = request.get_data()
        if request.mimetype in ("text/csv", "application/csv"):
            rows = parse_report_bytes(data, "csv")
        else:
            rows = rows_from_json_value(_json_body())
        return _json({"count": self.engine.replace_rows(rows)})

    def patch(self) -> Response:
        body = _object_body({"updates", "delete", "append"})
        updates = [_row_update(index, item) for index, item in enumerate(_list(body, "updates"))]
        delete = _list(body, "delete")
        if any(not isinstance(claim_id, str) for claim_id in delete):
            raise EngineInputError("delete must be a list of ClaimID texts")
        try:
            append = normalize_rows(_list(body, "append"))
        except ReportFileError as exc:
            raise EngineInputError(f"append: {exc}") from None
        return _json(self.engine.patch_rows(updates, delete, append))

    def generate(self) -> Response:
        body = _object_body({"claims", "seed", "malformed_share", "duplicate_share", "unmapped_share"})
        claims = body.get("claims", GeneratorSettings.claims)
        if isinstance(claims, int) and not isinstance(claims, bool) and claims > MAX_GENERATED_CLAIMS:
            raise EngineInputError(f"claims must be at most {MAX_GENERATED_CLAIMS}")
        try:
            report = generate_report(GeneratorSettings(**body))
        except ValueError as exc:
            raise EngineInputError(str(exc)) from None
        count = self.engine.replace_rows(report.rows)
        return _json(
            {
                "count": count,
                "malformed": len(report.malformed),
                "duplicates": len(report.duplicates),
                "unmapped": len(report.unmapped),
            }
        )

    def mutate(self) -> Response:
        body = _object_body({"share", "seed"})
        seed = body.get("seed", 1)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise EngineInputError("seed must be an integer")
        changed = self.engine.mutate(body.get("share", 0.01), seed)
        return _json({"changed": len(changed), "claim_ids": changed})


def _row_update(index: int, item: Any) -> tuple[str, dict[str, str]]:
    """One ``{"ClaimID": ..., "set": {...}}`` of a rows PATCH, its values coerced to text."""
    if not isinstance(item, dict) or set(item) != {"ClaimID", "set"}:
        raise EngineInputError(f'updates[{index}] must be an object with "ClaimID" and "set"')
    if not isinstance(item["ClaimID"], str) or not isinstance(item["set"], dict):
        raise EngineInputError(f'updates[{index}]: "ClaimID" must be text and "set" an object')
    try:
        return item["ClaimID"], normalize_rows([item["set"]])[0]
    except ReportFileError as exc:
        raise EngineInputError(f"updates[{index}].set: {exc}") from None


class ReportAdmin:
    """How reports are served and observed: configuration, faults, call counters, running reports."""

    def __init__(self, engine: ReportEngine) -> None:
        self.engine = engine

    def overview(self) -> Response:
        return _json(self.engine.overview())

    def get_config(self) -> Response:
        return _json(self.engine.config().to_json())

    def set_config(self) -> Response:
        return _json(self.engine.update_config(_json_body()).to_json())

    def get_faults(self) -> Response:
        return _json({"faults": self.engine.faults()})

    def add_faults(self) -> Response:
        faults = CATALOG.parse_body(_json_body())
        self.engine.add_faults(faults)
        return _json({"queued": len(faults), "faults": self.engine.faults()})

    def clear_faults(self) -> Response:
        self.engine.clear_faults()
        return _json({"faults": []})

    def calls(self) -> Response:
        return _json(self.engine.calls())

    def set_running(self) -> Response:
        body = _object_body({"remaining_polls"})
        return _json({"requests": self.engine.set_remaining_polls(body.get("remaining_polls", 0))})

    def reset(self) -> Response:
        self.engine.reset()
        return _json({"reset": True})


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status=status, mimetype="application/json")


def _json_body() -> Any:
    data = request.get_data()
    if not data.strip():
        raise EngineInputError("a JSON body is required")
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise EngineInputError(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError:  # bytes that are not UTF-8
        raise EngineInputError("the body is not valid JSON: not UTF-8 text") from None


def _object_body(allowed: set[str]) -> dict[str, Any]:
    body = _json_body()
    if not isinstance(body, dict):
        raise EngineInputError("the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise EngineInputError(f"unknown key(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return body


def _list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key, [])
    if not isinstance(value, list):
        raise EngineInputError(f"{key} must be a list")
    return value
