"""The widget's routes (widget/routes.py): the loader, the static files, the docs."""

from __future__ import annotations

from typing import Any

import httpx

from service.core.assets import ASSETS


async def test_loader_and_static_files(client: httpx.AsyncClient, state: dict[str, Any]) -> None:
    r = await client.get("/widget.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert len(r.content) < 4096
    assert r.headers["cache-control"] == "public, max-age=3600"
    again = await client.get("/widget.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    for name in ("embed.css", "embed.js"):
        version = ASSETS[name].version
        r = await client.get(f"/static/{name}?v={version}")
        assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    assert (await client.get("/static/secrets.txt")).status_code == 404


async def test_routes_are_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/embed/{poll_id}", "/widget.js", "/oembed", "/v1/polls/{poll_id}/results.svg"):
        assert "get" in paths[path]
