"""Public reads: a poll as a voter sees it (its results: voting/routes.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.core.http import PUBLIC_CACHE, json_response
from service.polls.access import public_poll


async def get_poll(request: Request) -> Response:
    poll = await public_poll(request)
    return json_response(
        poll.public_view(datetime.now(UTC)), headers={"Cache-Control": PUBLIC_CACHE}
    )


routes = [
    Route("/v1/polls/{poll_id}", get_poll, methods=["GET"]),
]
