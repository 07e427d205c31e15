"""ops/routes.py: /healthz, /readyz (naming what is down) and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from service.app import create_app
from service.core.settings import Settings
from service.dev.services import EmbeddedRedis, free_port
from service.ops import routes as ops


async def _poll_until(client: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    """GET path until it answers status (bounded: a few seconds at most)."""
    for _ in range(100):
        r = await client.get(path)
        if r.status_code == status:
            return r
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never answered {status}; last: {r.status_code} {r.text}")


# ---------------------------------------------------------------- health and readiness


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["cache-control"] == "no-store"


async def test_readyz_when_all_is_up(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}}


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in r.text


async def test_per_poll_metrics_need_an_all_sites_token(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: Any, make_token: Any
) -> None:
    poll = await make_poll(results_visibility="never")
    option = poll["options"][0]["id"]
    assert (
        await client.post(f"/v1/polls/{poll['id']}/votes", json={"choices": [option]})
    ).status_code == 201
    series = f'civicpoll_poll_votes_total{{outcome="accepted",poll="{poll["id"]}"}}'
    public = (await client.get("/metrics")).text
    assert "civicpoll_poll_votes" not in public and "civicpoll_http_requests" in public
    assert series in (await admin.get("/metrics")).text
    site_token = await make_token(["polls:read"], site=poll["site"])
    scoped = await client.get("/metrics", headers={"Authorization": f"Bearer {site_token}"})
    assert scoped.status_code == 403
    bad = await client.get("/metrics", headers={"Authorization": "Bearer cp_nope"})
    assert bad.status_code == 401


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, free to be stopped and started."""
    server = EmbeddedRedis(tmp_path / "redis", free_port(), appendonly=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_readyz_names_redis_while_it_is_down(
    settings: Settings, own_redis: EmbeddedRedis
) -> None:
    app = create_app(settings.with_changes(redis_url=own_redis.url))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await _poll_until(client, "/readyz", 200)

            await asyncio.to_thread(own_redis.stop)
            r = await _poll_until(client, "/readyz", 503)
            body = r.json()
            assert body["status"] == "unavailable"
            assert body["message"] == "unreachable: redis"
            assert body["checks"]["postgres"] == "ok"
            assert body["checks"]["redis"] != "ok"
            assert r.headers["cache-control"] == "no-store"
            # Liveness does not depend on Redis.
            assert (await client.get("/healthz")).status_code == 200

            await asyncio.to_thread(own_redis.start)
            r = await _poll_until(client, "/readyz", 200)
            assert r.json()["checks"] == {"postgres": "ok", "redis": "ok"}


class _DeadPool:
    async def fetchval(self, query: str) -> Any:
        raise ConnectionRefusedError("connection refused")


class _HangingPool:
    async def fetchval(self, query: str) -> Any:
        await asyncio.Event().wait()


@pytest.mark.parametrize("pool", [_DeadPool(), _HangingPool()])
async def test_readyz_names_postgres_while_it_is_down(state: dict[str, Any], pool: Any) -> None:
    # Only the pool is swapped; stopping the session's PostgreSQL would end every test.
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {"services": dataclasses.replace(state, pool=pool)}

    app = Starlette(routes=ops.routes, lifespan=lifespan)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["message"] == "unreachable: postgres"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["postgres"].split(":")[0] in ("ConnectionRefusedError", "TimeoutError")
