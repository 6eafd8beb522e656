"""The emulator's admin interface under ``/__admin``: JSON in, JSON out, loopback callers only, no auth.

It drives the same ``ReportEngine`` the report calls use. Bad input is answered with HTTP 400 and
``{"error": "..."}``; messages never echo row values. README.md documents every endpoint.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from .engine import EngineInputError, Fault, ReportEngine
from .generator import GeneratorSettings, generate_report
from .reportfile import ReportFileError, normalize_rows, parse_report_bytes, rows_from_json_value

ADMIN_PREFIX = "/__admin"
MAX_GENERATED_CLAIMS = 2_000_000
_LOOPBACK = frozenset({"127.0.0.1", "::1"})


def admin_blueprint(engine: ReportEngine) -> Blueprint:
    bp = Blueprint("collaboratemd_admin", __name__, url_prefix=ADMIN_PREFIX)

    @bp.before_request
    def loopback_only() -> Response | None:
        if request.remote_addr not in _LOOPBACK:
            return _json({"error": "the admin interface answers loopback callers only"}, 403)
        return None

    @bp.errorhandler(EngineInputError)
    @bp.errorhandler(ReportFileError)
    def bad_input(exc: ValueError) -> Response:
        return _json({"error": str(exc)}, 400)

    @bp.get("")
    def overview() -> Response:
        return _json(engine.overview())

    @bp.get("/rows")
    def get_rows() -> Response:
        rows = engine.rows()
        limit_text = request.args.get("limit")
        if limit_text is not None:
            if not limit_text.isdigit():
                raise EngineInputError("limit must be a non-negative integer")
            rows = rows[: int(limit_text)]
        return _json({"count": len(engine.rows()), "rows": rows})

    @bp.put("/rows")
    def put_rows() -> Response:
        data = request.get_data()
        if request.mimetype in ("text/csv", "application/csv"):
            rows = parse_report_bytes(data, "csv")
        else:
            rows = rows_from_json_value(_json_body())
        return _json({"count": engine.replace_rows(rows)})

    @bp.patch("/rows")
    def patch_rows() -> Response:
        body = _object_body({"updates", "delete", "append"})
        updates: list[tuple[str, dict[str, str]]] = []
        for index, item in enumerate(_list(body, "updates")):
            if not isinstance(item, dict) or set(item) != {"ClaimID", "set"}:
                raise EngineInputError(f'updates[{index}] must be an object with "ClaimID" and "set"')
            if not isinstance(item["ClaimID"], str) or not isinstance(item["set"], dict):
                raise EngineInputError(f'updates[{index}]: "ClaimID" must be text and "set" an object')
            try:
                values = normalize_rows([item["set"]])[0]
            except ReportFileError as exc:
                raise EngineInputError(f"updates[{index}].set: {exc}") from None
            updates.append((item["ClaimID"], values))
        delete = _list(body, "delete")
        if any(not isinstance(claim_id, str) for claim_id in delete):
            raise EngineInputError("delete must be a list of ClaimID texts")
        try:
            append = normalize_rows(_list(body, "append"))
        except ReportFileError as exc:
            raise EngineInputError(f"append: {exc}") from None
        return _json(engine.patch_rows(updates, delete, append))

    @bp.post("/generate")
    def generate() -> Response:
        body = _object_body({"claims", "seed", "malformed_share", "duplicate_share", "unmapped_share"})
        claims = body.get("claims", GeneratorSettings.claims)
        if isinstance(claims, int) and not isinstance(claims, bool) and claims > MAX_GENERATED_CLAIMS:
            raise EngineInputError(f"claims must be at most {MAX_GENERATED_CLAIMS}")
        try:
            report = generate_report(GeneratorSettings(**body))
        except ValueError as exc:
            raise EngineInputError(str(exc)) from None
        count = engine.replace_rows(report.rows)
        return _json(
            {
                "count": count,
                "malformed": len(report.malformed),
                "duplicates": len(report.duplicates),
                "unmapped": len(report.unmapped),
            }
        )

    @bp.post("/mutate")
    def mutate() -> Response:
        body = _object_body({"share", "seed"})
        seed = body.get("seed", 1)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise EngineInputError("seed must be an integer")
        changed = engine.mutate(body.get("share", 0.01), seed)
        return _json({"changed": len(changed), "claim_ids": changed})

    @bp.get("/config")
    def get_config() -> Response:
        return _json(engine.config().to_json())

    @bp.post("/config")
    def set_config() -> Response:
        return _json(engine.update_config(_json_body()).to_json())

    @bp.get("/faults")
    def get_faults() -> Response:
        return _json({"faults": engine.faults()})

    @bp.post("/faults")
    def add_faults() -> Response:
        body = _json_body()
        specs = body if isinstance(body, list) else [body]
        faults = []
        for index, spec in enumerate(specs):
            try:
                faults.append(Fault.parse(spec))
            except EngineInputError as exc:
                raise EngineInputError(f"fault {index}: {exc}") from None
        engine.add_faults(faults)
        return _json({"queued": len(faults), "faults": engine.faults()})

    @bp.delete("/faults")
    def clear_faults() -> Response:
        engine.clear_faults()
        return _json({"faults": []})

    @bp.get("/calls")
    def calls() -> Response:
        return _json(engine.calls())

    @bp.post("/running")
    def set_running() -> Response:
        body = _object_body({"remaining_polls"})
        return _json({"requests": engine.set_remaining_polls(body.get("remaining_polls", 0))})

    @bp.post("/reset")
    def reset() -> Response:
        engine.reset()
        return _json({"reset": True})

    return bp


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
