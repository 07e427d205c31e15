"""Static files of every package: loaded once, named by content version, served with an
ETag. Pages link the versioned URL, which may then be cached for a year."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response

from service.core.errors import NotFound
from service.core.http import not_modified

IMMUTABLE = "public, max-age=31536000, immutable"
UNVERSIONED = "public, max-age=300"
_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".ico": "image/x-icon",
}


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    media_type: str
    etag: str

    @property
    def version(self) -> str:
        return self.etag.strip('"')

    @property
    def href(self) -> str:
        return f"/static/{self.name}?v={self.version}"


def _load(package: str, name: str) -> Asset:
    body = files(package).joinpath("static", name).read_bytes()
    media_type = _TYPES[name[name.rfind(".") :]]
    return Asset(
        name, body, media_type, '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'
    )


# Every static file, by name (names are unique across packages).
ASSETS: dict[str, Asset] = {
    a.name: a
    for a in (
        _load("service.widget", "embed.css"),
        _load("service.widget", "embed.js"),
        _load("service.widget", "widget.js"),
        _load("service.widget", "challenge.js"),
        _load("service.widget", "pow-worker.js"),
        _load("service.live", "dashboard.css"),
        _load("service.live", "dashboard.js"),
        _load("service.console", "console.css"),
        _load("service.console", "console.js"),
        _load("service.ops", "apidocs.js"),
        # Swagger UI's files come from the swagger-ui-py wheel (its static/ folder, with
        # Swagger UI's licence), not vendored here: /docs serves them from our origin.
        _load("swagger_ui", "swagger-ui.css"),
        _load("swagger_ui", "swagger-ui-bundle.js"),
        _load("service.console", "favicon.ico"),
    )
}


def serve_asset(request: Request, asset: Asset, cache: str) -> Response:
    headers = {
        "ETag": asset.etag,
        "Cache-Control": cache,
        # Host pages that isolate themselves (COEP) may still load the loader.
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if not_modified(request, asset.etag):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


async def favicon(request: Request) -> Response:
    """GET /favicon.ico: what every browser asks for on every page (the console's, the
    widget's, the dashboard's), so that none of them logs a 404."""
    return serve_asset(request, ASSETS["favicon.ico"], "public, max-age=86400")


async def static_file(request: Request) -> Response:
    """GET /static/{name} (and /dashboard/static/{name}, its older address)."""
    asset = ASSETS.get(request.path_params["name"])
    if asset is None:
        raise NotFound("no such file")
    # Pages link the assets by content version, so a versioned URL never changes.
    versioned = request.query_params.get("v") == asset.version
    return serve_asset(request, asset, IMMUTABLE if versioned else UNVERSIONED)
