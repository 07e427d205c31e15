"""The placement routes: the admin API (add, list, remove) and the public lookup a site
snippet asks, "which poll is placed on this page?"."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.core.errors import ServiceError
from service.core.http import json_response
from service.core.validation import read_json
from service.identity.principal import require_scope
from service.ops import openapi
from service.placements import admin
from service.placements.schemas import PlacementCreate
from service.services import services

# A shared cache (CDN) may keep an answer, found or not, for a minute: a placement change
# reaches readers within that (docs/embedding/placements.md). Any origin may read it.
LOOKUP_HEADERS = {"Cache-Control": "public, max-age=60", "Access-Control-Allow-Origin": "*"}


async def create_placement(request: Request) -> Response:
    principal = await require_scope(request, "polls:write")
    body = await read_json(request, PlacementCreate)
    slug = request.path_params["slug"]
    view = await admin.create_placement(services(request), principal, slug, body)
    return json_response(view, 201, headers={"Location": f"/v1/admin/placements/{view['id']}"})


async def list_placements(request: Request) -> Response:
    principal = await require_scope(request, "polls:write")
    slug = request.path_params["slug"]
    return json_response({"items": await admin.list_placements(services(request), principal, slug)})


async def delete_placement(request: Request) -> Response:
    principal = await require_scope(request, "polls:write")
    await admin.delete_placement(services(request), principal, request.path_params["id"])
    return Response(status_code=204)


async def lookup(request: Request) -> Response:
    svc = services(request)
    slug = request.path_params["slug"]
    try:
        poll_id = await svc.placements.lookup(slug, request.query_params.get("page"))
    except ServiceError as exc:
        # The common answer is "nothing here": let the shared cache keep that one too.
        exc.headers.update(LOOKUP_HEADERS)
        raise
    embed_url = f"{svc.settings.public_url.rstrip('/')}/embed/{poll_id}"
    return json_response({"poll_id": poll_id, "embed_url": embed_url}, headers=LOOKUP_HEADERS)


routes = [
    Route("/v1/admin/sites/{slug}/placements", create_placement, methods=["POST"]),
    Route("/v1/admin/sites/{slug}/placements", list_placements, methods=["GET"]),
    Route("/v1/admin/placements/{id}", delete_placement, methods=["DELETE"]),
    Route("/v1/sites/{slug}/placement", lookup, methods=["GET"]),
]

openapi.register(
    "post",
    "/v1/admin/sites/{slug}/placements",
    "Place a poll on a site's pages (an exact page URL, or a prefix ending in *)",
    "polls:write",
    "PlacementCreate",
    201,
)
openapi.register(
    "get",
    "/v1/admin/sites/{slug}/placements",
    "A site's placements, highest priority first, then newest",
    "polls:write",
)
openapi.register(
    "delete", "/v1/admin/placements/{id}", "Remove a placement", "polls:write", None, 204
)
openapi.register(
    "get",
    "/v1/sites/{slug}/placement",
    "The open poll placed on a page: exact match, then longest prefix, then priority, then"
    " newest (404 no_placement; 400 page_not_allowed off the site's origins). Public;"
    " Cache-Control: public, max-age=60",
)
openapi.QUERY[("get", "/v1/sites/{slug}/placement")] = {
    "page": (
        "required: the page's http(s) URL, on one of the site's allowed origins (else 400"
        " page_not_allowed); canonicalised first (tracking parameters, fragment dropped)",
        {"type": "string", "maxLength": 500},
    ),
}
