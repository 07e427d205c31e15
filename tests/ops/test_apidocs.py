"""ops/apidocs.py: /docs serves the interactive API reference from our own origin."""

from __future__ import annotations

import re

import httpx


async def test_docs_page_links_only_our_own_assets(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    links = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert links and all(link.startswith("/") for link in links), links
    for link in links:
        if link.startswith("/static/"):
            asset = await client.get(link)
            assert asset.status_code == 200, link
            assert asset.content, link


async def test_the_renderer_reads_this_document(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    start = re.search(r'src="(/static/apidocs\.js[^"]*)"', page.text)
    assert start is not None
    script = await client.get(start.group(1))
    assert '"/openapi.json"' in script.text
    assert (await client.get("/openapi.json")).json()["paths"]["/docs"]["get"]
