"""ops/middleware.py: request ids, the access log, security headers, JSON 500 and 503."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from service.core.errors import NotFound, ServiceError
from service.core.http import handle_service_error
from service.core.validation import read_body
from service.ops import metrics
from service.ops.logs import AccessLog
from service.ops.middleware import RequestContext

# ---------------------------------------------------------------- middleware and logs


async def _boom(request: Request) -> Response:
    raise RuntimeError("secret detail")


async def _redis_down(request: Request) -> Response:
    raise redis.ConnectionError("Error 111 connecting")


async def _missing(request: Request) -> Response:
    raise NotFound("no such poll")


async def _upload(request: Request) -> Response:
    await read_body(request)
    return PlainTextResponse("stored")


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
            Route("/upload", _upload, methods=["POST"]),
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


async def test_a_client_gone_mid_body_is_no_server_error(
    access_lines: io.StringIO, logged: AccessLog, caplog: pytest.LogCaptureFixture
) -> None:
    app = _small_app(logged)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "raw_path": b"/upload",
        "query_string": b"",
        "headers": [(b"content-length", b"1000")],
        "client": ("203.0.113.9", 1234),
        "server": ("t", 80),
        "scheme": "http",
        "http_version": "1.1",
        "root_path": "",
    }
    messages = [
        {"type": "http.request", "body": b"{", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    errors_before = metrics.HTTP_REQUESTS.values["5xx"]
    await app(scope, receive, send)
    logged.flush()
    assert sent == []  # nobody to answer
    assert metrics.HTTP_REQUESTS.values["5xx"] == errors_before
    assert json.loads(access_lines.getvalue().splitlines()[-1])["status"] == 499
    assert "unhandled error" not in caplog.text
