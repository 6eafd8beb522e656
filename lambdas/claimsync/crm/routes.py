"""The CRM API's routes: the one list the handler, the OpenAPI document, the API Gateway stack and the
local API server are built from (tests check they agree).

Paths use API Gateway's template syntax (``{account_id}``). ``Route`` and ``ROUTES`` are a contract
with the stack: one API Gateway resource + method per entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    method: str
    path: str


ROUTES: tuple[Route, ...] = (
    Route("POST", "/accounts"),
    Route("GET", "/accounts/{account_id}"),
    Route("PATCH", "/accounts/{account_id}"),
    Route("DELETE", "/accounts/{account_id}"),
    Route("POST", "/contacts"),
    Route("GET", "/contacts/{contact_id}"),
    Route("PATCH", "/contacts/{contact_id}"),
    Route("DELETE", "/contacts/{contact_id}"),
    Route("POST", "/opportunities"),
    Route("GET", "/opportunities/{opportunity_id}"),
    Route("PATCH", "/opportunities/{opportunity_id}"),
    Route("DELETE", "/opportunities/{opportunity_id}"),
    Route("POST", "/query"),
    Route("POST", "/batch/accounts"),
    Route("GET", "/health"),
)


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", template)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(regex)


_PATTERNS: dict[str, re.Pattern[str]] = {r.path: _pattern(r.path) for r in ROUTES}


def match_path(path: str) -> tuple[str, dict[str, str]] | None:
    """The path template ``path`` belongs to and its parameters, or ``None`` (no such resource)."""
    for template, pattern in _PATTERNS.items():
        found = pattern.fullmatch(path)
        if found:
            return template, found.groupdict()
    return None


def allowed_methods(path: str) -> list[str]:
    """The methods the resource at ``path`` answers (empty: no such resource)."""
    matched = match_path(path)
    if matched is None:
        return []
    return [r.method for r in ROUTES if r.path == matched[0]]
