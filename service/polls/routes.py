"""Public reads: a poll as a voter sees it, and its results when the poll allows."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.admin.auth import authenticate
from service.core.errors import Forbidden, NotFound
from service.core.http import PreparedResponse, cookie, json_response, not_modified, raw_header
from service.polls.model import Poll, looks_like_poll_id
from service.server.hotlane import HotRoute
from service.services import services
from service.voting.identity import VOTER_COOKIE, voter_cookie
from service.voting.keys import poll_prefix

PUBLIC_CACHE = "public, max-age=1"
_PUBLIC = PUBLIC_CACHE.encode()
_PRIVATE = b"private, no-cache"


async def public_poll(request: Request) -> Poll:
    """The poll behind the path, or 404 for unknown ids and drafts alike."""
    poll_id = request.path_params["poll_id"]
    poll: Poll | None = None
    if looks_like_poll_id(poll_id):
        poll = await services(request).polls.get(poll_id)
    if poll is None or poll.status == "draft":
        raise NotFound("no such poll")
    return poll


async def has_voted(request: Request, poll: Poll) -> bool:
    voter = voter_cookie(cookie(raw_header(request, b"cookie"), VOTER_COOKIE))
    if voter is None:
        return False
    mark = poll_prefix(poll.id) + "v:" + services(request).hasher(poll.id, "voter", voter)
    return bool(await services(request).redis.exists(mark))


async def may_see_results(request: Request, poll: Poll) -> bool:
    """Visibility rules for the public; a token with polls:read for the site always sees."""
    if raw_header(request, b"authorization") is not None:
        principal = await authenticate(request)
        principal.require("polls:read")
        principal.check_site(poll.site.id)
        return True
    if poll.results_visibility == "always":
        return True
    if poll.results_public(datetime.now(UTC), has_voted=False):
        return True
    if poll.results_visibility == "after_vote":
        return await has_voted(request, poll)
    return False


async def get_poll(request: Request) -> Response:
    poll = await public_poll(request)
    return json_response(
        poll.public_view(datetime.now(UTC)), headers={"Cache-Control": PUBLIC_CACHE}
    )


async def get_results(request: Request) -> Response:
    poll = await public_poll(request)
    if not await may_see_results(request, poll):
        raise Forbidden("the results of this poll are not public yet", code="results_hidden")
    body, etag = await services(request).counts.rendered(poll)
    private = (
        raw_header(request, b"authorization") is not None or poll.results_visibility == "after_vote"
    )
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
