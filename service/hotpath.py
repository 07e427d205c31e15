"""The hot lane: the routes a viral article hammers — casting a vote, the embed page and
the results read — go straight from the request-context middleware to their endpoint.

Starlette's exception middleware, router and per-route wrappers add four nested calls,
two send wrappers and a regex match per route tried to every request: measured, about a
tenth of a vote's CPU. These routes need none of it: RequestContext (outside this
middleware) already turns an ApiError into its JSON answer and anything else into a
JSON 500. Every other path and method, HEAD included, goes on to the router unchanged,
so it still answers 404/405 and redirects as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class HotLane:
    """Routes `<prefix><poll_id><suffix>` for one method each, poll_id being one non-empty
    path segment: the same paths Starlette's `{poll_id}` would match."""

    def __init__(self, app: ASGIApp, *, routes: list[tuple[str, str, str, Endpoint]]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            method: str = scope["method"]
            for route_method, prefix, suffix, endpoint in self.routes:
                if method != route_method or not path.startswith(prefix):
                    continue
                if not path.endswith(suffix) or len(path) <= len(prefix) + len(suffix):
                    continue
                poll_id = path[len(prefix) : len(path) - len(suffix)]
                if "/" in poll_id:
                    continue
                scope["path_params"] = {"poll_id": poll_id}
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
