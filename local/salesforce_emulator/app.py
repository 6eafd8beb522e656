"""The emulator's HTTP surface (Flask), composed of one route class per API area.

| area | module |
|---|---|
| OAuth token endpoint | ``routes/oauth.py`` |
| versions, resources, limits, describe | ``routes/describe.py`` |
| REST sObjects (by id and by external id) | ``routes/sobjects.py`` |
| SOQL query and query cursors | ``routes/query.py`` |
| sObject Collections | ``routes/composite.py`` |
| Bulk API 2.0 ingest | ``routes/bulk.py`` |
| ``/__admin`` (counters, faults, limits, certificate, reset) | ``routes/admin.py`` |

Each area is a class holding the emulator (the shared state) whose ``routes()`` declare method, URL
rule, view and call kind; ``web.py`` holds what they share: the API gate every call passes, JSON in
and out, and the one place errors are shaped as Salesforce shapes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from local.salesforce_emulator.routes.admin import AdminRoutes
from local.salesforce_emulator.routes.bulk import BulkRoutes
from local.salesforce_emulator.routes.composite import CompositeRoutes
from local.salesforce_emulator.routes.describe import DescribeRoutes
from local.salesforce_emulator.routes.oauth import OAuthRoutes
from local.salesforce_emulator.routes.query import QueryRoutes
from local.salesforce_emulator.routes.sobjects import SObjectRoutes
from local.salesforce_emulator.web import ApiGate, Area, VersionConverter, blueprint, register_error_handlers

if TYPE_CHECKING:
    from local.salesforce_emulator.server import SalesforceEmulator


def create_app(emu: SalesforceEmulator) -> Flask:
    app = Flask("salesforce_emulator")
    app.url_map.strict_slashes = False
    app.url_map.converters["ver"] = VersionConverter
    gate = ApiGate(emu)
    areas: dict[str, Area] = {
        "oauth": OAuthRoutes(emu),
        "describe": DescribeRoutes(emu),
        "sobjects": SObjectRoutes(emu),
        "query": QueryRoutes(emu),
        "composite": CompositeRoutes(emu),
        "bulk": BulkRoutes(emu),
        "admin": AdminRoutes(emu),
    }
    for name, area in areas.items():
        app.register_blueprint(blueprint(name, area.routes(), gate))
    app.after_request(gate.limit_header)
    register_error_handlers(app)
    return app
