"""Public reads: a poll as a voter sees it, and its results when the poll allows."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.core.errors import NotFound
from service.core.http import PUBLIC_CACHE, PreparedResponse, json_response, not_modified
from service.polls.access import (
    find_public_poll,
    openly_public,
    private_results,
    public_poll,
    require_results,
)
from service.server.hotlane import HotRoute
from service.services import services

_PUBLIC = PUBLIC_CACHE.encode()
_PRIVATE = b"private, no-cache"


async def get_poll(request: Request) -> Response:
    poll = await public_poll(request)
    return json_response(
        poll.public_view(datetime.now(UTC)), headers={"Cache-Control": PUBLIC_CACHE}
    )


async def get_results(request: Request) -> Response:
    svc = services(request)
    poll = await find_public_poll(svc.polls, request.path_params["poll_id"])
    if poll is None:
        raise NotFound("no such poll")
    if openly_public(request, poll):  # the viral case: no clock, no credentials to check
        private = False
    else:
        await require_results(request, poll)
        private = private_results(request, poll)
    body, etag = await svc.counts.rendered(poll)
    headers = [
        (b"content-type", b"application/json"),
        (b"etag", etag.encode()),
        (b"cache-control", _PRIVATE if private else _PUBLIC),
    ]
    if not_modified(request, etag):
        return PreparedResponse(b"", headers, 304)
    return PreparedResponse(body, headers)


routes = [
    Route("/v1/polls/{poll_id}", get_poll, methods=["GET"]),
    HotRoute("/v1/polls/{poll_id}/results", get_results, method="GET"),
]
