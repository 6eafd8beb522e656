"""OAuth 2.0 token endpoint (not an API call: not counted against the daily allocation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Response, request

from local.salesforce_emulator.web import Route, sf_json

if TYPE_CHECKING:
    from local.salesforce_emulator.server import SalesforceEmulator


class OAuthRoutes:
    def __init__(self, emu: SalesforceEmulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        return [Route("POST", "/services/oauth2/token", self.token)]

    def token(self) -> Response:
        if self.emu.faults.take_unavailable("oauth_token"):
            return sf_json(
                {"error": "server_error", "error_description": "Server temporarily unavailable"}, 503
            )
        form = dict(request.form.items())
        if not form and request.args:
            form = dict(request.args.items())
        body = self.emu.oauth.grant(form, self.emu.instance_url)
        self.emu.counters.login()
        return sf_json(body)
