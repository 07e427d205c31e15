"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.core.errors import Forbidden
from service.core.http import json_response, raw_header
from service.identity.principal import require_scope
from service.ops.metrics import POLL_REGISTRY, REGISTRY
from service.services import services


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})


async def _check(name: str, probe: asyncio.Future[object] | object) -> tuple[str, str | None]:
    try:
        await asyncio.wait_for(probe, timeout=1.0)  # type: ignore[arg-type]
    except Exception as exc:
        # The exception's class says enough; its text may carry hosts and ports.
        return name, type(exc).__name__
    return name, None


async def readyz(request: Request) -> Response:
    results = await asyncio.gather(
        _check("postgres", services(request).pool.fetchval("SELECT 1")),
        _check("redis", services(request).redis.ping()),
    )
    failing = {name: problem for name, problem in results if problem}
    body = {
        "status": "ok" if not failing else "unavailable",
        "checks": {name: ("ok" if problem is None else problem) for name, problem in results},
    }
    if failing:
        body["message"] = f"unreachable: {', '.join(failing)}"
    return json_response(body, 503 if failing else 200, headers={"Cache-Control": "no-store"})


async def prometheus(request: Request) -> Response:
    """Process-wide series for anyone; per-poll series only for an all-sites API token
    with polls:read (a scraper's `authorization: Bearer cp_...`), since they would show
    the figures of polls whose results are hidden."""
    await services(request).probes.refresh()
    body = generate_latest(REGISTRY)
    if raw_header(request, b"authorization") is not None:
        principal = await require_scope(request, "polls:read")
        if not principal.all_sites:
            raise Forbidden("per-poll metrics need a token for all sites", code="missing_scope")
        body += generate_latest(POLL_REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", prometheus, methods=["GET"]),
]
