"""Operations: /healthz, /readyz (naming what is down), metrics, request ids and JSON logs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from service.app import create_app
from service.core.errors import NotFound, ServiceError
from service.core.http import handle_service_error
from service.core.settings import Settings
from service.dev.services import EmbeddedRedis, free_port
from service.ops import routes as ops
from service.ops.logs import AccessLog, JsonFormatter, configure
from service.ops.middleware import RequestContext


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


# ---------------------------------------------------------------- middleware and logs


async def _boom(request: Request) -> Response:
    raise RuntimeError("secret detail")


async def _redis_down(request: Request) -> Response:
    raise redis.ConnectionError("Error 111 connecting")


async def _missing(request: Request) -> Response:
    raise NotFound("no such poll")


async def _ok(request: Request) -> Response:
    return PlainTextResponse("ok")


def _small_app(access_log: AccessLog | None = None) -> Starlette:
    # Built as create_app builds it: RequestContext inside Starlette's error middleware.
    return Starlette(
        routes=[
            Route("/ok", _ok),
            Route("/boom", _boom),
            Route("/redis", _redis_down),
            Route("/missing", _missing),
            Route("/embed/x", _ok),
        ],
        exception_handlers={ServiceError: handle_service_error},
        middleware=[Middleware(RequestContext, access_log=access_log)],
    )


@pytest.fixture
def access_lines() -> io.StringIO:
    """Where the access log of `_small_app(logged)` goes."""
    return io.StringIO()


@pytest.fixture
def logged(access_lines: io.StringIO) -> AccessLog:
    """An access log writing to `access_lines` (flush it before reading)."""
    return AccessLog(stream=access_lines)


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_one_json_access_line_per_request_with_its_id(
    access_lines: io.StringIO, logged: AccessLog
) -> None:
    async with _client(_small_app(logged)) as client:
        first = await client.get("/ok?q=1")
        second = await client.get("/missing")
    logged.flush()
    lines = access_lines.getvalue().splitlines()
    assert len(lines) == 2
    entries = [json.loads(line) for line in lines]
    assert entries[0]["request_id"] == first.headers["x-request-id"]
    assert entries[1]["request_id"] == second.headers["x-request-id"]
    assert entries[0]["request_id"] != entries[1]["request_id"]
    assert entries[0]["logger"] == "civicpoll.access"
    assert entries[0]["level"] == "info"
    assert (entries[0]["method"], entries[0]["path"], entries[0]["status"]) == ("GET", "/ok", 200)
    assert entries[1]["status"] == 404
    assert isinstance(entries[0]["ms"], float)
    assert entries[0]["ts"].endswith("Z")
    # The service stores no raw IP address, logs included.
    assert "203.0.113.9" not in access_lines.getvalue()


async def test_access_log_can_be_turned_off(access_lines: io.StringIO, logged: AccessLog) -> None:
    async with _client(_small_app(None)) as client:
        await client.get("/ok")
    logged.flush()
    assert access_lines.getvalue() == ""


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("0123456789abcdef", True),
        ("6f1c2b1e-8d4a-4c1e-9b7a-2f3d4e5f6a7b", True),
        ("short", False),
        ("<script>alert(1)</script>", False),
        ("a" * 65, False),
    ],
)
async def test_request_id_is_kept_only_when_it_is_safe(sent: str, kept: bool) -> None:
    async with _client(_small_app(None)) as client:
        r = await client.get("/ok", headers={"X-Request-Id": sent})
    assert (r.headers["x-request-id"] == sent) is kept
    assert 8 <= len(r.headers["x-request-id"]) <= 64


async def test_security_headers() -> None:
    async with _client(_small_app(None)) as client:
        api = await client.get("/ok")
        embed = await client.get("/embed/x")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in api.headers["content-security-policy"]
    assert "content-security-policy" not in embed.headers


async def test_unhandled_error_is_a_logged_json_500(caplog: pytest.LogCaptureFixture) -> None:
    async with _client(_small_app(None)) as client:
        r = await client.get("/boom")
    assert r.status_code == 500
    assert r.json() == {
        "error": {
            "code": "internal",
            "message": "internal error; it has been logged",
            "field": None,
        }
    }
    assert "secret detail" not in r.text
    [record] = [rec for rec in caplog.records if rec.name == "civicpoll.error"]
    assert record.request_id == r.headers["x-request-id"]  # type: ignore[attr-defined]
    assert record.exc_info is not None


async def test_a_dependency_error_is_a_503_naming_it() -> None:
    async with _client(_small_app(None)) as client:
        r = await client.get("/redis")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "unavailable"
    assert "redis" in r.json()["error"]["message"]
    assert r.headers["retry-after"] == "2"


def test_json_formatter_carries_extras_and_exceptions() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError("bad")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("civicpoll.x", logging.ERROR, __file__, 1, "a %s", ("b",), exc_info)
    record.request_id = "abc"
    record.unserialisable = object()
    line = formatter.format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "a b"
    assert entry["level"] == "error"
    assert entry["request_id"] == "abc"
    assert entry["unserialisable"].startswith("<object")
    assert "ValueError: bad" in entry["exc"]
    assert "args" not in entry and "levelno" not in entry


def test_configure_sends_json_lines_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("uvicorn.access").disabled)
    try:
        configure("warning")
        assert root.level == logging.WARNING
        assert logging.getLogger("uvicorn.access").disabled
        logging.getLogger("civicpoll.test").warning("hello %s", "world", extra={"poll": "p1"})
        logging.getLogger("civicpoll.test").info("not shown")
    finally:
        root.handlers[:], root.level, logging.getLogger("uvicorn.access").disabled = saved
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["msg"] for line in lines] == ["hello world"]
    assert json.loads(lines[0])["poll"] == "p1"
