"""The one shape of a paging cursor (next_cursor): the sort time and id of a page's last
row, spelled so the OpenAPI document states it exactly (cursor_schema) and every text of
that shape decodes; anything else is a 400 naming the cursor."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from service.core.errors import BadRequest

POLL_ID = "[A-Za-z0-9_-]{1,40}"  # polls.model.looks_like_poll_id
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Microseconds since 1970 (16 digits reach the year 2286, inside datetime's range), a
# tilde (unreserved in URLs), the row's id.
_TIME = "[0-9]{1,16}"


def cursor_schema(id_pattern: str) -> dict[str, Any]:
    # `(?!\n)`: Python's `$` would also match before a trailing newline.
    return {"type": "string", "pattern": f"^{_TIME}~{id_pattern}(?!\\n)$"}


def encode_cursor(at: datetime, row_id: object) -> str:
    return f"{(at - _EPOCH) // _MICROSECOND}~{row_id}"


def decode_cursor(raw: str | None, id_pattern: str) -> tuple[datetime | None, str | None]:
    """(time, id) of a cursor, or (None, None) for none."""
    if raw is None:
        return None, None
    if not re.fullmatch(f"{_TIME}~{id_pattern}", raw):
        raise BadRequest("cursor is not one this API gave out", field="cursor")
    micros, _, row_id = raw.partition("~")
    return _EPOCH + int(micros) * _MICROSECOND, row_id
