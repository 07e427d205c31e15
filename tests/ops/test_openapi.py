"""The OpenAPI document describes every route of the app, and only routes that exist."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route

from service.admin.checks import POLL_STATUSES
from service.admin.schemas import PollCreate
from service.app import create_app
from service.core.settings import Settings
from service.live.dashboard import LINK_HOURS, MAX_LINK_HOURS
from service.live.history import MAX_HOURS
from service.widget.theme import THEME_CHECKS


def _operations(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        # The editor console (and `/`, which sends a browser there) is pages for people,
        # described in the README, not operations of the API.
        if isinstance(route, Route) and (route.path == "/" or route.path.startswith("/console")):
            continue
        if isinstance(route, Route):
            methods = route.methods or {"GET"}
            for method in methods:
                # Starlette answers HEAD wherever it answers GET; documenting GET is enough.
                if method == "HEAD" and "GET" in methods:
                    continue
                yield method.lower(), prefix + route.path
        elif isinstance(route, Mount):
            yield from _operations(list(route.routes), prefix + route.path)


@pytest.fixture(scope="module")
def app_routes(settings: Settings) -> list[BaseRoute]:
    """The routes of an app built as in production (no lifespan needed to list them)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        return list(create_app(settings).routes)
    finally:
        root.handlers[:], root.level = saved


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    return dict(r.json())


async def test_every_route_is_documented(
    app_routes: list[BaseRoute], client: httpx.AsyncClient
) -> None:
    paths = (await _document(client))["paths"]
    routed = set(_operations(app_routes))
    assert len(routed) > 20
    missing = sorted(f"{m.upper()} {p}" for m, p in routed if m not in paths.get(p, {}))
    assert missing == [], f"routes missing from /openapi.json: {missing}"


async def test_nothing_documented_is_missing_from_the_app(
    app_routes: list[BaseRoute], client: httpx.AsyncClient
) -> None:
    routed = set(_operations(app_routes))
    paths = (await _document(client))["paths"]
    documented = {(m, p) for p, ops in paths.items() for m in ops}
    assert sorted(documented - routed) == []


async def test_document_shape(client: httpx.AsyncClient) -> None:
    doc = await _document(client)
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] == "civicpoll"
    components = doc["components"]["schemas"]
    for path, ops in doc["paths"].items():
        names = re.findall(r"{([^}]+)}", path)
        for method, op in ops.items():
            assert op["summary"], (method, path)
            assert any(code.startswith("2") for code in op["responses"]), (method, path)
            params = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            assert params == names, (method, path)
            if path.startswith("/v1/admin/"):
                assert op["security"], (method, path)
            body = op.get("requestBody")
            if body:
                ref = body["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[-1] in components


async def test_request_bodies_come_from_the_validating_types(client: httpx.AsyncClient) -> None:
    doc = await _document(client)
    create = doc["paths"]["/v1/admin/polls"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert set(schema["properties"]) == set(PollCreate.__struct_encode_fields__)
    assert set(schema["required"]) == {"site", "question"}
    assert schema.get("additionalProperties") is False


async def test_405_allows_every_method_of_the_path(admin: httpx.AsyncClient) -> None:
    # GET, POST /v1/admin/polls are two routes; Starlette named the first one's only.
    r = await admin.put("/v1/admin/polls")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD, POST"
    assert r.json()["error"]["code"] == "method_not_allowed"
    r = await admin.post("/v1/admin/polls/abc")
    assert r.headers["allow"] == "DELETE, GET, HEAD, PATCH"
    r = await admin.delete("/v1/admin/sites")
    assert r.headers["allow"] == "GET, HEAD, POST"


async def test_document_states_the_limits_the_server_enforces(client: httpx.AsyncClient) -> None:
    doc = await _document(client)
    schemas = doc["components"]["schemas"]
    site = schemas["SiteCreate"]["properties"]
    assert site["slug"]["pattern"].startswith("^[a-z0-9][a-z0-9-]{0,62}")
    assert site["name"]["maxLength"] == 200
    for field, high in (
        ("rate_per_ip_per_minute", 10_000),
        ("burst_per_ip", 10_000),
        ("rate_per_network_per_minute", 60_000),
        ("burst_per_network", 100_000),
    ):
        assert (site[field]["minimum"], site[field]["maximum"]) == (1, high), field
    assert site["allowed_origins"]["maxItems"] == 50
    assert site["allowlisted_networks"]["maxItems"] == 100
    assert set(site["theme"]["properties"]) == set(THEME_CHECKS)
    poll = schemas["PollCreate"]["properties"]
    assert poll["question"]["maxLength"] == 500
    assert poll["description"]["maxLength"] == 2000
    (options,) = (s for s in poll["options"]["anyOf"] if s.get("type") == "array")
    assert (options["minItems"], options["maxItems"]) == (2, 20)
    label = next(s for s in options["items"]["anyOf"] if s.get("type") == "string")
    assert label["maxLength"] == 200
    assert poll["range"]["anyOf"][0]["minimum"] == 3
    assert poll["max_comments_per_voter"]["maximum"] == 10
    assert poll["dedupe_window_hours"]["maximum"] == 8760
    vote = schemas["VoteBody"]["properties"]
    assert vote["choices"]["maxItems"] == 20
    assert vote["other_text"]["anyOf"][0]["maxLength"] == 1000

    def param(method: str, path: str, name: str) -> dict[str, Any]:
        (found,) = (p for p in doc["paths"][path][method]["parameters"] if p["name"] == name)
        return dict(found["schema"])

    assert param("get", "/v1/admin/polls", "limit")["maximum"] == 100
    assert param("get", "/v1/admin/polls", "status")["enum"] == list(POLL_STATUSES)
    assert param("get", "/v1/admin/polls/{poll_id}/export", "format")["enum"] == ["csv", "json"]
    assert param("get", "/dashboard/{poll_id}/data", "hours")["maximum"] == MAX_HOURS
    link = param("post", "/v1/admin/polls/{poll_id}/dashboard-link", "hours")
    assert (link["maximum"], link["default"]) == (MAX_LINK_HOURS, LINK_HOURS)
    key = param("post", "/v1/polls/{poll_id}/votes", "Idempotency-Key")
    assert re.fullmatch(key["pattern"], "retry-1") and not re.search(key["pattern"], "x" * 201)
    embed_404 = doc["paths"]["/embed/{poll_id}"]["get"]["responses"]["404"]
    assert list(embed_404["content"]) == ["text/html"]


async def test_a_slug_with_a_trailing_newline_is_refused(admin: httpx.AsyncClient) -> None:
    # Python's `$` matches before a final newline: the slug passed the check and the
    # database's CHECK refused the row with a 500.
    r = await admin.post("/v1/admin/sites", json={"slug": "abc\n", "name": "x"})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "slug"
