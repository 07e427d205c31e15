"""The server-sent event wire format: one event's bytes, the ASGI body chunk carrying it,
and the reconnect delays and heartbeat the stream sends."""

from __future__ import annotations

from starlette.types import Message

RECONNECT_MS = 3000
CLOSED_RECONNECT_MS = 60_000  # a client that ignores `closed` should not hammer us
PING = b": ping\n\n"


def event(name: str, data: bytes, event_id: str = "", retry: int = 0) -> bytes:
    # msgspec never writes a raw newline, so the JSON fits on one `data:` line.
    head = b"retry: %d\n" % retry if retry else b""
    if event_id:
        head += b"id: " + event_id.encode() + b"\n"
    return head + b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


def chunk(body: bytes) -> Message:
    """One more piece of an endless response body."""
    return {"type": "http.response.body", "body": body, "more_body": True}
