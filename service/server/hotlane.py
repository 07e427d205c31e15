"""The hot lane: the routes a viral article hammers — casting a vote, the embed page and
the results read — go straight from the request-context middleware to their endpoint.

Starlette's exception middleware, router and per-route wrappers add four nested calls,
two send wrappers and a regex match per route tried to every request: measured, about a
tenth of a vote's CPU. These routes need none of it: RequestContext (outside this
middleware) already turns an ServiceError into its JSON answer and anything else into a
JSON 500. A route takes the lane by being a HotRoute in the one route table; every other
path and method, HEAD included, goes on to the router unchanged, so it still answers
404/405 and redirects as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class HotRoute(Route):
    """A route of the form `<prefix>{poll_id}<suffix>` with one method, which the hot lane
    serves before the router (the router still serves its HEAD and documents it)."""

    def __init__(self, path: str, endpoint: Endpoint, *, method: str) -> None:
        super().__init__(path, endpoint, methods=[method])
        prefix, param, suffix = path.partition("{poll_id}")
        if not param or "{" in prefix + suffix:
            raise ValueError(f"a hot route takes exactly one {{poll_id}}: {path}")
        self.lane = (method, prefix, suffix, endpoint)


class HotLane:
    """Routes `<prefix><poll_id><suffix>` for one method each, poll_id being one non-empty
    path segment: the same paths Starlette's `{poll_id}` would match."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = [r.lane for r in routes if isinstance(r, HotRoute)]

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
