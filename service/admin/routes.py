"""The admin API's HTTP handlers for sites and polls: each reads the request, calls the
service function (admin.sites, admin.polls) and answers JSON. No domain rule lives here."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.admin import checks, polls, sites
from service.admin.schemas import PollCreate, PollUpdate, SiteCreate, SiteUpdate
from service.core.errors import BadRequest
from service.core.http import json_response
from service.core.validation import read_json
from service.identity.principal import require_scope
from service.services import services

_LIST_QUERY = frozenset({"site", "status", "limit", "cursor"})


async def create_site(request: Request) -> Response:
    principal = await require_scope(request, "sites:admin")
    # Before the body is read: to a site-scoped token this route does not exist at all.
    sites.require_all_sites(principal)
    body = await read_json(request, SiteCreate)
    return json_response(await sites.create_site(services(request), principal, body), 201)


async def list_sites(request: Request) -> Response:
    principal = await require_scope(request, "sites:admin")
    return json_response({"items": await sites.list_sites(services(request), principal)})


async def get_site(request: Request) -> Response:
    principal = await require_scope(request, "sites:admin")
    slug = request.path_params["slug"]
    return json_response(await sites.get_site(services(request), principal, slug))


async def update_site(request: Request) -> Response:
    principal = await require_scope(request, "sites:admin")
    body = await read_json(request, SiteUpdate)
    slug = request.path_params["slug"]
    return json_response(await sites.update_site(services(request), principal, slug, body))


async def create_poll(request: Request) -> Response:
    principal = await require_scope(request, "polls:write")
    body = await read_json(request, PollCreate)
    view = await polls.create_poll(services(request), principal, body)
    return json_response(view, 201, headers={"Location": f"/v1/admin/polls/{view['id']}"})


async def list_polls(request: Request) -> Response:
    principal = await require_scope(request, "polls:read")
    query = request.query_params
    unknown = sorted(set(query) - _LIST_QUERY)
    if unknown:
        raise BadRequest(f"unknown query parameter {unknown[0]!r}", field=unknown[0])
    page = await polls.list_polls(
        services(request),
        principal,
        site=query.get("site"),
        status=query.get("status"),
        limit=checks.query_int(query.get("limit"), "limit", 20, 1, 100),
        cursor=query.get("cursor"),
    )
    return json_response(page)


async def get_poll(request: Request) -> Response:
    principal = await require_scope(request, "polls:read")
    poll_id = request.path_params["poll_id"]
    return json_response(await polls.get_poll(services(request), principal, poll_id))


async def update_poll(request: Request) -> Response:
    principal = await require_scope(request, "polls:write")
    body = await read_json(request, PollUpdate)
    poll_id = request.path_params["poll_id"]
    return json_response(await polls.update_poll(services(request), principal, poll_id, body))


async def open_poll(request: Request) -> Response:
    principal = await require_scope(request, "polls:write")
    poll_id = request.path_params["poll_id"]
    return json_response(await polls.open_poll(services(request), principal, poll_id))


async def close_poll(request: Request) -> Response:
    principal = await require_scope(request, "polls:write")
    poll_id = request.path_params["poll_id"]
    return json_response(await polls.close_poll(services(request), principal, poll_id))


async def archive_poll(request: Request) -> Response:
    principal = await require_scope(request, "polls:write")
    poll_id = request.path_params["poll_id"]
    return json_response(await polls.archive_poll(services(request), principal, poll_id))


async def delete_poll(request: Request) -> Response:
    principal = await require_scope(request, "polls:write")
    force = request.query_params.get("force", "").lower() in ("1", "true", "yes")
    poll_id = request.path_params["poll_id"]
    await polls.delete_poll(services(request), principal, poll_id, force=force)
    return Response(status_code=204)


routes = [
    Route("/v1/admin/sites", create_site, methods=["POST"]),
    Route("/v1/admin/sites", list_sites, methods=["GET"]),
    Route("/v1/admin/sites/{slug}", get_site, methods=["GET"]),
    Route("/v1/admin/sites/{slug}", update_site, methods=["PATCH"]),
    Route("/v1/admin/polls", create_poll, methods=["POST"]),
    Route("/v1/admin/polls", list_polls, methods=["GET"]),
    Route("/v1/admin/polls/{poll_id}", get_poll, methods=["GET"]),
    Route("/v1/admin/polls/{poll_id}", update_poll, methods=["PATCH"]),
    Route("/v1/admin/polls/{poll_id}", delete_poll, methods=["DELETE"]),
    Route("/v1/admin/polls/{poll_id}/open", open_poll, methods=["POST"]),
    Route("/v1/admin/polls/{poll_id}/close", close_poll, methods=["POST"]),
    Route("/v1/admin/polls/{poll_id}/archive", archive_poll, methods=["POST"]),
]
