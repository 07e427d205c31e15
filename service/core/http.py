"""The HTTP side of the service: JSON responses encoded once with msgspec (datetimes as
ISO 8601), the status of each kind of service error and its JSON shape, raw header reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from service.core import errors

encode_json = msgspec.json.Encoder().encode

# Public reads a CDN or browser may keep for a second: a viral poll's readers share them.
PUBLIC_CACHE = "public, max-age=1"


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        json_body(data), status_code=status, media_type="application/json", headers=headers
    )


def json_body(data: Any) -> bytes:
    """A JSON answer's bytes, ending in a newline as text does: curl's output then ends
    its line instead of running into the prompt."""
    return encode_json(data) + b"\n"


class PreparedResponse(Response):
    """A response whose headers are already encoded (often once, with the page they
    belong to): Starlette's general header building is a noticeable share of a hot
    route's cost."""

    def __init__(self, body: bytes, headers: list[tuple[bytes, bytes]], status: int = 200) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        if status != 304:
            headers.append((b"content-length", str(len(body)).encode()))
        self.raw_headers = headers


# The hot routes read the few headers they need from the raw list: building
# request.headers (or request.cookies) costs more than these scans.


def raw_header(request: Request, name: bytes) -> bytes | None:
    """The first value of a header; `name` in lower case."""
    headers: list[tuple[bytes, bytes]] = request.scope["headers"]
    for key, value in headers:
        if key == name:
            return value
    return None


def cookie(header: bytes | None, name: str) -> str | None:
    """A cookie's value from a Cookie header (callers often hold the header already)."""
    if not header:
        return None
    for part in header.decode("latin-1").split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip() == name:
            return value.strip()
    return None


def not_modified(request: Request, etag: str) -> bool:
    """Whether If-None-Match names this ETag."""
    value = raw_header(request, b"if-none-match")
    return value is not None and etag in (t.strip() for t in value.decode("latin-1").split(","))


_STATUS: dict[type[errors.ServiceError], int] = {
    errors.BadRequest: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.Unprocessable: 422,
    errors.RateLimited: 429,
    errors.Internal: 500,
    errors.NotSupported: 501,
    errors.Unavailable: 503,
}


def status_of(exc: errors.ServiceError) -> int:
    for kind in type(exc).__mro__:
        status = _STATUS.get(kind)
        if status is not None:
            return status
    return 400


def error_response(exc: errors.ServiceError, status: int | None = None) -> Response:
    """The JSON error shape `{"error": {"code", "message", "field"}}` for a service error."""
    headers = {"Cache-Control": "no-store", **exc.headers}
    if exc.retry_after is not None:
        headers.setdefault("Retry-After", str(exc.retry_after))
    return Response(
        json_body(exc.body()),
        status_code=status_of(exc) if status is None else status,
        media_type="application/json",
        headers=headers,
    )


async def handle_service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.ServiceError)
    return error_response(exc)
