"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs too much on the vote path):
request ids, the access log, default security headers, and a JSON 500 of last resort."""

from __future__ import annotations

import itertools
import logging
import secrets
import time

import asyncpg
import redis
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.errors import Internal, ServiceError, Unavailable
from service.core.http import error_response
from service.ops import metrics
from service.ops.hosts import HostWatch
from service.ops.logs import AccessLog

log = logging.getLogger("civicpoll.error")

# API answers are never meant to be framed; the embed pages set their own CSP.
_DEFAULT_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_BY_STATUS = metrics.HTTP_REQUESTS.values
_STATUS_CLASS = {n: f"{n}xx" for n in range(1, 6)}


# Request ids only need to be unique: a random per-process prefix and a counter are,
# at a fraction of the cost of fresh random bytes per request.
_ID_PREFIX = secrets.token_hex(4)
_id_counter = itertools.count(1)


def _next_request_id() -> bytes:
    return f"{_ID_PREFIX}{next(_id_counter):08x}".encode()


def _valid_request_id(raw: bytes) -> bool:
    return 8 <= len(raw) <= 64 and all(c in b"0123456789abcdefABCDEF-" for c in raw)


class RequestContext:
    def __init__(
        self, app: ASGIApp, *, access_log: AccessLog | None, hosts: HostWatch | None = None
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = host = forwarded_host = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _valid_request_id(value):
                request_id = value
            elif name == b"host":
                host = value
            elif name == b"x-forwarded-host":
                # Behind a proxy the Host may be the upstream's; the reader's is this one.
                forwarded_host = value.partition(b",")[0].strip()
        if self.hosts is not None:
            self.hosts.see(forwarded_host or host)
        if not request_id:
            request_id = _next_request_id()
        path: str = scope["path"]
        is_api = not (
            path.startswith("/embed")
            or path.startswith("/dashboard")
            or path.endswith(".js")
            or path.endswith(".svg")
        )
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                # Defaults only: a page that chose its own policy (the console's
                # same-origin, the dashboard's no-referrer) must not send two.
                present = {k for k, _ in headers}
                headers.append((b"x-request-id", request_id))
                headers.extend(h for h in _DEFAULT_HEADERS if h[0] not in present)
                if is_api and _API_CSP[0] not in present:
                    headers.append(_API_CSP)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            # The client went away before its request was read (an aborted upload): there
            # is nobody to answer, and it is no fault of the server's, so it must not count
            # (or alert) as a 5xx. Logged as 499, nginx's "client closed request".
            status = 499
        except Exception as exc:
            if response_started:
                raise
            if isinstance(exc, ServiceError):
                error: ServiceError = exc
            elif _is_dependency_error(exc):
                error = Unavailable(
                    f"a dependency is unavailable ({_dependency(exc)})",
                    retry_after=2,
                )
            else:
                log.exception("unhandled error", extra={"request_id": request_id.decode()})
                error = Internal("internal error; it has been logged")
            await error_response(error)(scope, receive, send_wrapper)
        finally:
            _BY_STATUS[_STATUS_CLASS.get(status // 100, "5xx")] += 1
            if self.access_log is not None:
                # No client address here: the service stores no raw IP, logs included.
                self.access_log.write(
                    scope["method"],
                    path,
                    status,
                    round((time.perf_counter() - started) * 1000, 2),
                    request_id.decode(),
                )


def _dependency(exc: BaseException) -> str:
    module = type(exc).__module__
    if module.startswith("redis"):
        return "redis"
    if module.startswith("asyncpg"):
        return "postgres"
    return "storage"


def _is_dependency_error(exc: BaseException) -> bool:
    return isinstance(
        exc,
        (
            redis.RedisError,
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.exceptions.CannotConnectNowError,
            ConnectionError,
            TimeoutError,
            OSError,
        ),
    )
