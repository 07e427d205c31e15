"""The OpenAPI document: every route, with request bodies taken from the same msgspec
types that validate them, so the document cannot drift from the code."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.admin.checks import POLL_STATUSES
from service.admin.held import HeldSelection
from service.admin.schemas import PollCreate, PollUpdate, SiteCreate, SiteUpdate, Slug
from service.core.cursor import POLL_ID, cursor_schema
from service.core.http import json_response
from service.feedback.schemas import ActionBody, BulkBody, CommentBody, ReportBody
from service.placements.schemas import PlacementCreate
from service.voting.ballot import VoteBody

_BODIES: tuple[type[msgspec.Struct], ...] = (
    SiteCreate,
    SiteUpdate,
    PollCreate,
    PollUpdate,
    VoteBody,
    HeldSelection,
    CommentBody,
    ReportBody,
    ActionBody,
    BulkBody,
    PlacementCreate,
)
_SCHEMAS, _COMPONENTS = msgspec.json.schema_components(
    _BODIES, ref_template="#/components/schemas/{name}"
)
_REF = {t.__name__: s for t, s in zip(_BODIES, _SCHEMAS, strict=True)}
# Rules across fields, which msgspec types cannot state (admin/polls.py, admin/sites.py):
# an update must change something, and a site's origins are edited as a whole list or
# by additions and removals, not both at once.
_COMPONENTS["PollUpdate"]["minProperties"] = 1
_COMPONENTS["SiteUpdate"]["minProperties"] = 1
_COMPONENTS["SiteUpdate"]["not"] = {
    "anyOf": [
        {"required": ["allowed_origins", "add_origins"]},
        {"required": ["allowed_origins", "remove_origins"]},
    ]
}
# admin/held.py: the listed ids, or all of them; one or the other.
_COMPONENTS["HeldSelection"]["oneOf"] = [
    {"required": ["ids"], "properties": {"ids": {"type": "array"}, "all": {"const": False}}},
    {"required": ["all"], "properties": {"all": {"const": True}}, "not": {"required": ["ids"]}},
]
_SLUG: dict[str, Any] = msgspec.json.schema(Slug)
# Path parameters with a shape of their own (a site's slug); the rest are plain strings.
_PATH: dict[str, dict[str, Any]] = {"slug": _SLUG}

_ERROR_FIELDS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "field": {"type": ["string", "null"]},
    },
}
_ERROR = {"type": "object", "properties": {"error": _ERROR_FIELDS}}

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
    ("get", "/docs", "This document, rendered (interactive API reference)", None, None, 200),
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
        "Accepted, duplicate, invalid and closed attempts; challenged, solved, held,"
        " released and discarded votes",
        "polls:read",
        None,
        200,
    ),
    ("get", "/v1/admin/polls/{poll_id}/audit", "Audit trail of the poll", "polls:read", None, 200),
    (
        "get",
        "/v1/admin/polls/{poll_id}/held",
        "Votes held for review, grouped by network, reason and minute, each with its id",
        "polls:read",
        None,
        200,
    ),
    (
        "post",
        "/v1/admin/polls/{poll_id}/held/release",
        "Release held votes into the tally ({ids} or {all: true}); audited",
        "polls:write",
        "HeldSelection",
        200,
    ),
    (
        "post",
        "/v1/admin/polls/{poll_id}/held/discard",
        "Discard held votes (they stay in the ledger as discarded); audited",
        "polls:write",
        "HeldSelection",
        200,
    ),
    (
        "get",
        "/v1/admin/polls/{poll_id}/export",
        "Ledger export (?format=csv|json, ?what=votes|comments)",
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


# Query parameters and headers of the routes that take any, with the limits the handlers
# check (admin/checks.py, admin/reports.py, live/dashboard.py, widget/routes.py):
# (method, path) -> {name: (description, schema)}. A value outside them gets a 400 naming it.
Params = dict[tuple[str, str], dict[str, tuple[str, dict[str, Any]]]]
_HOURS = "a whole number of hours"
QUERY: Params = {
    ("get", "/v1/admin/polls"): {
        "site": ("only this site (slug)", _SLUG),
        "status": ("only polls in this state", {"type": "string", "enum": list(POLL_STATUSES)}),
        "limit": ("page size", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
        "cursor": ("next_cursor of the previous page", cursor_schema(POLL_ID)),
    },
    ("delete", "/v1/admin/polls/{poll_id}"): {
        "force": ("true: delete a poll that is not a draft", {"type": "boolean"}),
    },
    ("get", "/v1/admin/polls/{poll_id}/export"): {
        "format": (
            "csv, or json (one object a line)",
            {"type": "string", "enum": ["csv", "json"], "default": "csv"},
        ),
        "what": (
            "votes (the ledger), or comments with their moderation states",
            {"type": "string", "enum": ["votes", "comments"], "default": "votes"},
        ),
    },
    ("get", "/oembed"): {
        "url": ("an /embed/{poll_id} URL of this service", {"type": "string"}),
        "maxwidth": ("largest width the consumer can show", {"type": "integer", "minimum": 0}),
        "maxheight": ("largest height the consumer can show", {"type": "integer", "minimum": 0}),
        "format": ("only json is offered", {"type": "string", "enum": ["json"]}),
    },
    ("get", "/dashboard/{poll_id}/data"): {
        # live.history.MAX_HOURS (tests/ops/test_openapi.py keeps the two equal)
        "hours": (_HOURS, {"type": "integer", "minimum": 1, "maximum": 48, "default": 6}),
        "key": ("a signed dashboard key", {"type": "string"}),
    },
    ("post", "/v1/admin/polls/{poll_id}/dashboard-link"): {
        # live.dashboard.MAX_LINK_HOURS and LINK_HOURS
        "hours": (_HOURS, {"type": "integer", "minimum": 1, "maximum": 720, "default": 24}),
    },
    ("post", "/v1/admin/sites/{slug}/dashboard-link"): {
        "hours": (_HOURS, {"type": "integer", "minimum": 1, "maximum": 720, "default": 24}),
    },
}
HEADERS: Params = {
    ("post", "/v1/polls/{poll_id}/votes"): {
        # voting.ballot.idempotency_header; HTTP trims spaces at either end of a value.
        "Idempotency-Key": (
            "retrying with the same key answers as the first time",
            {"type": "string", "pattern": "^[!-~](?:[ -~]{0,198}[!-~])?$"},
        ),
    },
}
_HTML = {"text/html": {"schema": {"type": "string"}}}
_CHALLENGE = {
    "type": "object",
    "description": "an ALTCHA challenge (v1): find n <= maxnumber with"
    " hex(SHA-256(salt + n)) == challenge, then send the vote again with altcha ="
    " base64(JSON {algorithm, challenge, number, salt, signature})",
    "properties": {
        "algorithm": {"type": "string", "enum": ["SHA-256"]},
        "challenge": {"type": "string"},
        "maxnumber": {"type": "integer"},
        "salt": {"type": "string"},
        "signature": {"type": "string"},
    },
}
# Answers other than the usual JSON error: (method, path) -> {status: response}.
RESPONSES: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    # Fair limits (README): over a limit a vote is asked for work, or held; never refused.
    ("post", "/v1/polls/{poll_id}/votes"): {
        "202": {
            "description": "held for review: recorded, counted only once an editor releases"
            " it (also the no-JavaScript form's answer over a limit, as a 303 with"
            " state=held)",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "status": {"type": "string", "enum": ["held"]},
                            "poll_id": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    }
                }
            },
        },
        "428": {
            "description": "over an address's or network's limit: nothing was stored; solve"
            " the challenge and retry with altcha (error code challenge_required)",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "error": _ERROR_FIELDS,
                            "challenge": _CHALLENGE,
                        },
                    }
                }
            },
        },
    },
    # An iframe shows the embed page's 404, so it is a page, not JSON.
    ("get", "/embed/{poll_id}"): {
        "404": {"description": "no such public poll (a page saying so)", "content": _HTML}
    },
    # oEmbed's own rule: a format the provider does not offer is answered 501.
    ("get", "/oembed"): {
        "501": {
            "description": "the format asked for is not offered",
            "content": {"application/json": {"schema": _ERROR}},
        }
    },
    ("get", "/dashboard/{poll_id}"): {
        "403": {
            "description": "the locked page: a key or an admin token is needed",
            "content": _HTML,
        }
    },
}


def _parameters(method: str, path: str) -> list[dict[str, Any]]:
    names = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
    params: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": _PATH.get(p, {"type": "string"})}
        for p in names
    ]
    for where, table in (("query", QUERY), ("header", HEADERS)):
        for name, (description, schema) in table.get((method, path), {}).items():
            params.append(
                {
                    "name": name,
                    "in": where,
                    "required": False,
                    "description": description,
                    "schema": schema,
                }
            )
    return params


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
                **RESPONSES.get((method, path), {}),
            },
        }
        params = _parameters(method, path)
        if params:
            op["parameters"] = params
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
