"""JSON responses encoded once with msgspec (datetimes as ISO 8601)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

encode_json = msgspec.json.Encoder().encode


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        encode_json(data), status_code=status, media_type="application/json", headers=headers
    )


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


def not_modified(request: Request, etag: str) -> bool:
    """Whether If-None-Match names this ETag."""
    # Read from the raw headers: building request.headers costs more than this scan.
    for name, value in request.scope["headers"]:
        if name == b"if-none-match":
            return etag in (tag.strip() for tag in value.decode("latin-1").split(","))
    return False
