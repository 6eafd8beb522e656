"""The CRM API's routes, derived from the object declarations (``claimsync.crm.objects``): the one
list the handler registers, the OpenAPI document describes, the API Gateway stack builds resources
from and the local API server routes by (tests check they agree).

Each ``CrmObject`` gets ``POST /<collection>``, ``GET``/``PATCH``/``DELETE
/<collection>/{<singular>_id}`` and, when it declares ``batch``, ``POST /batch/<collection>``; the
API itself adds ``POST /query`` and ``GET /health``. Paths use API Gateway's template syntax
(``{account_id}``). ``Route`` and ``ROUTES`` are a contract with the stack: one API Gateway resource
+ method per entry.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from claimsync.crm.objects import OBJECTS, CrmObject

Action = Literal["create", "get", "update", "delete", "batch", "query", "health"]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    action: Action
    obj: CrmObject | None = None  # the object served (None for /query and /health)

    @property
    def key(self) -> str:
        """``"POST /accounts"``: how logs, idempotency records and error messages name the route."""
        return f"{self.method} {self.path}"


def object_routes(obj: CrmObject) -> tuple[Route, ...]:
    """The create, read, update and delete routes of one object."""
    base = f"/{obj.collection}"
    item = f"{base}/{{{obj.id_param}}}"
    return (
        Route("POST", base, "create", obj),
        Route("GET", item, "get", obj),
        Route("PATCH", item, "update", obj),
        Route("DELETE", item, "delete", obj),
    )


def routes_for(objects: Sequence[CrmObject]) -> tuple[Route, ...]:
    """Every route of an API serving ``objects``, in document order."""
    collections = [o.collection for o in objects]
    if len(set(collections)) != len(collections) or len({o.sobject for o in objects}) != len(objects):
        raise ValueError(f"two declarations share an object or a collection: {collections}")
    return (
        *(route for obj in objects for route in object_routes(obj)),
        Route("POST", "/query", "query"),
        *(Route("POST", f"/batch/{o.collection}", "batch", o) for o in objects if o.batch),
        Route("GET", "/health", "health"),
    )


ROUTES: tuple[Route, ...] = routes_for(OBJECTS)


@functools.cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", template)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(regex)


def match_path(path: str, routes: Sequence[Route] = ROUTES) -> tuple[str, dict[str, str]] | None:
    """The path template ``path`` belongs to and its parameters, or ``None`` (no such resource)."""
    for template in dict.fromkeys(r.path for r in routes):
        found = _pattern(template).fullmatch(path)
        if found:
            return template, found.groupdict()
    return None


def allowed_methods(path: str, routes: Sequence[Route] = ROUTES) -> list[str]:
    """The methods the resource at ``path`` answers (empty: no such resource)."""
    matched = match_path(path, routes)
    if matched is None:
        return []
    return [r.method for r in routes if r.path == matched[0]]
