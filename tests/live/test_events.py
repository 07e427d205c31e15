"""The server-sent event framing (service/live/events.py)."""

from __future__ import annotations

from service.live.events import PING, chunk, event


def test_an_event_is_one_block_of_fields() -> None:
    assert event("results", b'{"total":1}') == b'event: results\ndata: {"total":1}\n\n'
    assert event("snapshot", b"{}", "3-abc") == b"id: 3-abc\nevent: snapshot\ndata: {}\n\n"
    assert event("goodbye", b"{}", retry=1500) == b"retry: 1500\nevent: goodbye\ndata: {}\n\n"
    assert PING.startswith(b":") and PING.endswith(b"\n\n")  # a comment: no event fires


def test_a_chunk_keeps_the_response_open() -> None:
    assert chunk(b"x") == {"type": "http.response.body", "body": b"x", "more_body": True}
