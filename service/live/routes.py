"""The live results route: GET /v1/polls/{poll_id}/results/stream, as server-sent events."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.ops.openapi import register
from service.polls.access import public_poll, require_results
from service.services import services


async def stream_results(request: Request) -> Response:
    poll = await public_poll(request)
    grant = await require_results(request, poll)
    return await services(request).live.open(
        request, [poll], grant, request.headers.get("last-event-id")
    )


register(
    "get",
    "/v1/polls/{poll_id}/results/stream",
    "Live results as server-sent events: snapshot, results, closed; heartbeats; resumable"
    " with Last-Event-ID (obeys the results visibility; ?key= takes a signed dashboard key)",
)

routes = [Route("/v1/polls/{poll_id}/results/stream", stream_results, methods=["GET"])]
