"""GET /docs: the interactive API reference (Swagger UI, shipped in the wheel) over
/openapi.json. No CDN: the renderer's files are package data served from our origin."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from service.core.assets import ASSETS

# Swagger UI 5 runs without eval and without inline scripts: its start-up lives in
# apidocs.js. React sets styles through the CSSOM (not blocked by style-src), but its
# syntax highlighter writes style attributes, hence 'unsafe-inline' for styles only.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; connect-src 'self'; font-src 'self';"
    " frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _page() -> bytes:
    css = ASSETS["swagger-ui.css"].href
    bundle = ASSETS["swagger-ui-bundle.js"].href
    start = ASSETS["apidocs.js"].href
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>civicpoll API reference</title>"
        f'<link rel="stylesheet" href="{css}"></head>'
        '<body><div id="swagger-ui"><noscript><p>The interactive reference needs'
        ' JavaScript; the document itself is at <a href="/openapi.json">/openapi.json</a>.'
        "</p></noscript></div>"
        f'<script src="{bundle}"></script><script src="{start}"></script>'
        "</body></html>\n"
    ).encode()


_PAGE = _page()


async def api_reference(request: Request) -> Response:
    return HTMLResponse(
        _PAGE,
        headers={
            "Content-Security-Policy": _CSP,
            "Cache-Control": "public, max-age=300",
        },
    )


routes = [Route("/docs", api_reference, methods=["GET"])]
