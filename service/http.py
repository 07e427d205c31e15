"""JSON responses encoded once with msgspec (datetimes as ISO 8601)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.responses import Response

encode_json = msgspec.json.Encoder().encode


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        encode_json(data), status_code=status, media_type="application/json", headers=headers
    )
