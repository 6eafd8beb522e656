"""``/__admin``: counters, faults, limits, tokens, the connected app's certificate, reset (JSON, no
auth, not API calls). Faults take the shape both emulators share (``local/faults.py``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flask import Response, request

from local.salesforce_emulator.faults import CATALOG
from local.salesforce_emulator.web import ApiError, Route, object_or_404, read_json, read_json_object, sf_json

if TYPE_CHECKING:
    from local.salesforce_emulator.server import SalesforceEmulator

ADMIN = "/__admin"


class AdminRoutes:
    def __init__(self, emu: SalesforceEmulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        certificate = f"{ADMIN}/connected-app/certificate"
        return [
            Route("GET", f"{ADMIN}/counters", self.counters),
            Route("POST", f"{ADMIN}/counters/reset", self.reset_counters),
            Route("GET", f"{ADMIN}/faults", self.faults),
            Route("POST", f"{ADMIN}/faults", self.add_faults),
            Route("DELETE", f"{ADMIN}/faults", self.clear_faults),
            Route("POST", f"{ADMIN}/expire-tokens", self.expire_tokens),
            Route("GET", f"{ADMIN}/limits", self.limits),
            Route("POST", f"{ADMIN}/limits", self.set_limits),
            Route("POST", f"{ADMIN}/reset", self.reset),
            Route("GET", f"{ADMIN}/records/<obj_name>", self.records),
            Route("GET", certificate, self.certificate),
            Route("PUT", certificate, self.set_certificate),
            Route("DELETE", certificate, self.restore_certificate),
            Route("GET", f"{ADMIN}/health", self.health),
        ]

    def counters(self) -> Response:
        return sf_json(self.emu.counters.snapshot())

    def reset_counters(self) -> Response:
        self.emu.counters.reset()
        return sf_json(self.emu.counters.snapshot())

    def faults(self) -> Response:
        return sf_json({"faults": self.emu.faults.describe(), "held_jobs": self.emu.bulk.held()})

    def add_faults(self) -> Response:
        faults = CATALOG.parse_body(read_json())
        self.emu.faults.add(faults)
        return sf_json({"queued": len(faults), "faults": self.emu.faults.describe()})

    def clear_faults(self) -> Response:
        self.emu.faults.clear()
        self.emu.bulk.release_held()
        return sf_json({"faults": []})

    def expire_tokens(self) -> Response:
        self.emu.oauth.expire_all()
        return sf_json({"expired": True})

    def limits(self) -> Response:
        return sf_json({"daily_api_limit": self.emu.daily_api_limit, "used": self.emu.store.api_used()})

    def set_limits(self) -> Response:
        body = read_json_object()
        try:
            if "daily_api_limit" in body:
                self.emu.daily_api_limit = int(body["daily_api_limit"])
            if "used" in body:
                self.emu.store.set_api_used(int(body["used"]))
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "INVALID_LIMIT", str(exc)) from None
        return self.limits()

    def reset(self) -> Response:
        self.emu.reset()
        return sf_json({"reset": True})

    def records(self, obj_name: str) -> Response:
        obj = object_or_404(self.emu.schema, obj_name)
        return sf_json({"object": obj.name, "records": list(self.emu.store.rows(obj))})

    def certificate(self) -> Response:
        return sf_json(self.emu.oauth.certificate.describe())

    def set_certificate(self) -> Response:
        try:
            self.emu.oauth.certificate.replace(request.get_data())
        except ValueError as exc:
            raise ApiError(400, "INVALID_CERTIFICATE", str(exc)) from None
        return sf_json(self.emu.oauth.certificate.describe())

    def restore_certificate(self) -> Response:
        self.emu.oauth.certificate.restore_default()
        return sf_json(self.emu.oauth.certificate.describe())

    def health(self) -> Response:
        return sf_json({"status": "ok", "time": time.time()})
