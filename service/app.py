"""The application: create_app(settings) wires storage, background tasks and routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from service.admin import held, reports
from service.admin import routes as admin
from service.console import routes as console
from service.console.hashing import Budget
from service.core.errors import ServiceError
from service.core.http import error_response, handle_service_error
from service.core.settings import Settings, SettingsError
from service.feedback import routes as feedback
from service.feedback.comments import CommentDesk
from service.identity.keys import Hasher
from service.live import dashboard
from service.live import routes as live
from service.live.hub import LiveHub
from service.ops import apidocs
from service.ops import routes as ops
from service.ops.hosts import HostWatch
from service.ops.logs import AccessLog, configure
from service.ops.memory import MemoryTender
from service.ops.middleware import RequestContext
from service.ops.openapi import openapi_route
from service.ops.probes import ScrapeProbes
from service.placements import routes as placements
from service.placements.cache import PlacementCache
from service.polls import routes as public
from service.polls.cache import PollCache
from service.server.hotlane import HotLane
from service.services import Services
from service.storage.db import create_pool, migrate
from service.storage.redis import connect_redis
from service.voting import routes as votes
from service.voting.counts import maintain
from service.voting.engine import VoteEngine
from service.voting.integrity import OutcomeTally
from service.voting.results import CountsCache
from service.widget import routes as embed
from service.widget.page import EmbedPages

log = logging.getLogger("civicpoll.app")


def _allowed_methods(request: Request) -> str:
    """Every method the request's path accepts: Starlette's 405 names only the methods of
    the first route whose path matched, while one path is often served by several routes
    (GET and POST /v1/admin/polls). Only 405s pay for this walk over the routes."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match != Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    error = ServiceError(
        exc.detail or "error", code=codes.get(exc.status_code, "http_error"), headers=headers
    )
    return error_response(error, exc.status_code)


async def _bounded(step: str, work: Awaitable[Any], seconds: float = 5.0) -> bool:
    """One shutdown step, given `seconds` at most: a stuck dependency must not keep the
    process from exiting (a supervisor would have to kill it, losing the rest of the
    shutdown). Says which step overran; False if it did."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(work, seconds)
    except TimeoutError:
        log.error("shutdown: %s did not finish within %.0f s; going on", step, seconds)
        return False
    except Exception as exc:
        log.warning("shutdown: %s failed: %r", step, exc)
    elapsed = time.monotonic() - started
    if elapsed > 1.0:
        log.warning("shutdown: %s took %.1f s", step, elapsed)
    return True


def create_app(settings: Settings) -> Starlette:
    configure(settings.log_level)
    access_log = AccessLog() if settings.access_log else None
    hosts = HostWatch(settings.public_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Services]]:
        # Pending migrations are applied here (docs/operations/upgrades.md says why): a
        # database already at head is only read, so workers starting together never wait.
        await migrate(settings.database_url)
        pool = await create_pool(settings.database_url, settings.db_pool_size)
        redis = connect_redis(settings.redis_url)
        polls = PollCache(pool, redis)
        placed = PlacementCache(pool, redis, polls)
        engine = VoteEngine(
            pool,
            redis,
            batch_max=settings.ledger_batch_max,
            ledger_linger=settings.ledger_batch_ms / 1000,
        )
        engine.start()
        tally = OutcomeTally(redis)
        hub = LiveHub(settings, redis, polls)
        hub.start()
        memory = MemoryTender()
        tasks = [
            asyncio.create_task(polls.listen(), name="poll-cache-listener"),
            asyncio.create_task(placed.listen(), name="placement-cache-listener"),
            *([asyncio.create_task(access_log.run(), name="access-log")] if access_log else []),
            asyncio.create_task(tally.run(), name="integrity-tally"),
            asyncio.create_task(memory.run(), name="memory-tender"),
            asyncio.create_task(
                maintain(pool, redis, settings.reconcile_seconds, engine), name="count-maintenance"
            ),
        ]
        parts = urlsplit(settings.public_url)
        own_origin = f"{parts.scheme}://{parts.netloc}"
        # Objects made at start-up live as long as the process: keep the collector from
        # walking them on every full collection (it stalls the loop with many streams).
        gc.collect()
        gc.freeze()
        # Thousands of streams allocate steadily; with the default thresholds the young
        # collections run hundreds of times a second and full ones stall the loop. With
        # these the counts hardly ever trigger a collection at all: `memory` runs it on
        # a clock instead (service/ops/memory.py says why).
        gc.set_threshold(50_000, 20, 100)
        try:
            yield {
                "services": Services(
                    settings=settings,
                    pool=pool,
                    redis=redis,
                    polls=polls,
                    engine=engine,
                    tally=tally,
                    hasher=Hasher(settings.secret_key),
                    counts=CountsCache(redis),
                    live=hub,
                    pages=EmbedPages(settings.public_url, own_origin),
                    comments=CommentDesk(pool, redis),
                    own_origin=own_origin,
                    signin_budget=Budget(settings.signin_hashes_per_second),
                    hosts=hosts,
                    probes=ScrapeProbes(pool, redis),
                    placements=placed,
                    memory=memory,
                )
            }
        finally:
            for task in tasks:
                task.cancel()
            await _bounded("background tasks", asyncio.gather(*tasks, return_exceptions=True))
            await _bounded("live streams", hub.close())
            # Votes in flight finish (or fail with 503) within the engine's own timeouts.
            await _bounded("vote engine", engine.stop(), 15.0)
            await _bounded("integrity figures", tally.flush())
            await _bounded("redis", redis.aclose())
            if not await _bounded("postgres pool", pool.close()):
                pool.terminate()

    routes = [
        *votes.routes,
        *public.routes,
        *embed.routes,
        *ops.routes,
        *apidocs.routes,
        *dashboard.routes,
        *admin.routes,
        *reports.routes,
        *held.routes,
        *live.routes,
        *feedback.routes,
        *console.routes,
        *placements.routes,
        openapi_route,
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestContext, access_log=access_log, hosts=hosts),
            Middleware(HotLane, routes=routes),
        ],
        exception_handlers={ServiceError: handle_service_error, HTTPException: _http_error},
    )


def from_environment() -> Starlette:
    """The app on settings read from the environment: the factory each server worker
    calls (`civicpoll serve --workers N`), so that every process builds its own pool,
    engine, poll cache and live hub after it starts."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        # One clear line instead of an import traceback from uvicorn.
        raise SystemExit(f"civicpoll: {exc}") from None
    return create_app(settings)


def __getattr__(name: str) -> Starlette:
    # `uvicorn service.app:app` builds the app from the environment on first access,
    # so importing this module (tests, tools) reads no environment.
    if name == "app":
        application = from_environment()
        globals()["app"] = application
        return application
    raise AttributeError(name)
