"""The OpenAPI document: every route, with request bodies taken from the same msgspec
types that validate them, so the document cannot drift from the code."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.admin.schemas import PollCreate, PollUpdate, SiteCreate, SiteUpdate
from service.core.http import json_response
from service.voting.ballot import VoteBody

_BODIES: tuple[type[msgspec.Struct], ...] = (
    SiteCreate,
    SiteUpdate,
    PollCreate,
    PollUpdate,
    VoteBody,
)
_SCHEMAS, _COMPONENTS = msgspec.json.schema_components(
    _BODIES, ref_template="#/components/schemas/{name}"
)
_REF = {t.__name__: s for t, s in zip(_BODIES, _SCHEMAS, strict=True)}

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
            },
        }
    },
}

# (method, path, summary, scope or None, request body type name or None, success status)
OPERATIONS: list[tuple[str, str, str, str | None, str | None, int]] = [
    ("get", "/healthz", "Process is alive", None, None, 200),
    (
        "get",
        "/readyz",
        "PostgreSQL and Redis are reachable (503 names the one that is not)",
        None,
        None,
        200,
    ),
    ("get", "/metrics", "Prometheus metrics", None, None, 200),
    ("get", "/openapi.json", "This document", None, None, 200),
    ("get", "/v1/polls/{poll_id}", "A poll as a voter sees it", None, None, 200),
    (
        "get",
        "/v1/polls/{poll_id}/results",
        "Counts and percentages (obeys the poll's results visibility; ETag)",
        None,
        None,
        200,
    ),
    (
        "post",
        "/v1/polls/{poll_id}/votes",
        "Cast a vote (JSON, or a form post from the widget answered with 303)",
        None,
        "VoteBody",
        201,
    ),
    ("post", "/v1/admin/sites", "Create a site", "sites:admin", "SiteCreate", 201),
    ("get", "/v1/admin/sites", "List sites", "sites:admin", None, 200),
    (
        "get",
        "/v1/admin/sites/{slug}",
        "Read a site (with its voter-signing secret)",
        "sites:admin",
        None,
        200,
    ),
    ("patch", "/v1/admin/sites/{slug}", "Update a site", "sites:admin", "SiteUpdate", 200),
    ("post", "/v1/admin/polls", "Create a poll with its options", "polls:write", "PollCreate", 201),
    (
        "get",
        "/v1/admin/polls",
        "List polls (filters site, status; limit, cursor)",
        "polls:read",
        None,
        200,
    ),
    (
        "get",
        "/v1/admin/polls/{poll_id}",
        "Read a poll (with embed snippet)",
        "polls:read",
        None,
        200,
    ),
    (
        "patch",
        "/v1/admin/polls/{poll_id}",
        "Update a poll (options and rules only until the first vote)",
        "polls:write",
        "PollUpdate",
        200,
    ),
    (
        "delete",
        "/v1/admin/polls/{poll_id}",
        "Delete a draft (or any poll with ?force=true)",
        "polls:write",
        None,
        204,
    ),
    ("post", "/v1/admin/polls/{poll_id}/open", "Open a poll", "polls:write", None, 200),
    ("post", "/v1/admin/polls/{poll_id}/close", "Close a poll", "polls:write", None, 200),
    ("post", "/v1/admin/polls/{poll_id}/archive", "Archive a poll", "polls:write", None, 200),
    (
        "get",
        "/v1/admin/polls/{poll_id}/results",
        "Live counts beside the ledger's counts",
        "polls:read",
        None,
        200,
    ),
    (
        "get",
        "/v1/admin/polls/{poll_id}/integrity",
        "Accepted, duplicate, rate-limited, invalid and closed attempts",
        "polls:read",
        None,
        200,
    ),
    ("get", "/v1/admin/polls/{poll_id}/audit", "Audit trail of the poll", "polls:read", None, 200),
    (
        "get",
        "/v1/admin/polls/{poll_id}/export",
        "Ledger export (?format=csv|json)",
        "polls:read",
        None,
        200,
    ),
]


def register(
    method: str,
    path: str,
    summary: str,
    scope: str | None = None,
    body: str | None = None,
    status: int = 200,
) -> None:
    """Other modules (widget, live results) add their routes to the document here."""
    OPERATIONS.append((method, path, summary, scope, body, status))


# Query parameters of the routes that take any: (method, path) -> {name: description}.
QUERY: dict[tuple[str, str], dict[str, str]] = {
    ("get", "/v1/admin/polls"): {
        "site": "only this site (slug)",
        "status": "draft, open, closed or archived",
        "limit": "1-100, default 20",
        "cursor": "next_cursor of the previous page",
    },
    ("delete", "/v1/admin/polls/{poll_id}"): {"force": "true: delete a poll that is not a draft"},
    ("get", "/v1/admin/polls/{poll_id}/export"): {"format": "csv (default) or json (lines)"},
}


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, scope, body, status in OPERATIONS:
        op: dict[str, Any] = {
            "summary": summary,
            "responses": {
                str(status): {"description": "success"},
                "4XX": {
                    "description": "bad request, auth, not found, conflict, rate limit",
                    "content": {"application/json": {"schema": _ERROR}},
                },
                "503": {"description": "a dependency is unavailable; retry later"},
            },
        }
        params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        for name, description in QUERY.get((method, path), {}).items():
            op.setdefault("parameters", []).append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": description,
                    "schema": {"type": "string"},
                }
            )
        if scope:
            op["security"] = [{"bearer": [scope]}]
            op["description"] = f"Needs a token with the {scope} scope."
        if body:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _REF[body]}},
            }
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "civicpoll",
            "version": "1",
            "description": "Polls for news and civic portals: embed, vote, watch live.",
        },
        "paths": paths,
        "components": {
            "schemas": _COMPONENTS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi(request: Request) -> Response:
    return json_response(document())


openapi_route = Route("/openapi.json", openapi, methods=["GET"])
