"""The OpenAPI document describes every route of the app, and only routes that exist."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route

from service.admin.schemas import PollCreate
from service.app import create_app
from service.core.settings import Settings


def _operations(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
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
    assert set(schema["properties"]) == set(PollCreate.__struct_fields__)
    assert set(schema["required"]) == {"site", "question", "options"}
    assert schema.get("additionalProperties") is False
