"""The CRM API Lambda (API Gateway REST API, Lambda proxy integration): docs/crm-api.md.

``app`` serves every route derived from the object declarations (``claimsync.crm.OBJECTS``); what
a route does is ``claimsync.crm.api``, how errors answer is ``claimsync.crm.refusals``, and the
wiring (settings read once, cached clients, the Powertools resolver, the ``configure`` seam for the
local world and tests) is ``handlers._crm_edge``.

``python -m handlers.crm_api --openapi`` prints the OpenAPI document of ``app`` (committed as
docs/openapi.json).
"""

from __future__ import annotations

import argparse
import sys

from claimsync.crm import openapi
from handlers._crm_edge import build_app, entry_point, openapi_document

app = build_app()
lambda_handler = entry_point(app)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handlers.crm_api", description="CRM API tools")
    parser.add_argument("--openapi", action="store_true", help="print the OpenAPI document (JSON)")
    args = parser.parse_args(argv)
    if not args.openapi:
        parser.print_help()
        return 2
    sys.stdout.write(openapi.render(openapi_document(app)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
