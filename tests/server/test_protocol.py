"""service.server: a real uvicorn with our protocol on a real socket writes each response
in one piece, and still streams, pipelines and closes correctly."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from service.server import protocol
from service.server.protocol import HttpToolsProtocol


class CountingTransport:
    """The socket's transport, counting what reaches it (everything else passes through)."""

    def __init__(self, transport: asyncio.Transport, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


WRITES: list[bytes] = []


class CountedProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CountingTransport(transport, WRITES))  # type: ignore[arg-type]


async def _json(request: Request) -> Response:
    return JSONResponse({"vote": "accepted"}, status_code=201)


async def _stream(request: Request) -> Response:
    async def events() -> AsyncIterator[bytes]:
        for n in range(3):
            yield f"data: {n}\n\n".encode()
            await asyncio.sleep(0)

    return StreamingResponse(events(), media_type="text/event-stream")


FIRST_EVENT_READY = asyncio.Event()


async def _slow_stream(request: Request) -> Response:
    async def events() -> AsyncIterator[bytes]:
        await FIRST_EVENT_READY.wait()
        yield b"data: late\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


APP = Starlette(
    routes=[
        Route("/vote", _json, methods=["POST"]),
        Route("/stream", _stream),
        Route("/slow", _slow_stream),
    ]
)


@pytest.fixture
async def server() -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(APP, http=CountedProtocol, log_level="warning", lifespan="off")
    config.load()
    serving = uvicorn.Server(config)
    # Server.serve() without its main loop: startup() returns once the socket accepts.
    serving.lifespan = config.lifespan_class(config)
    await serving.startup(sockets=[sock])
    WRITES.clear()
    yield sock.getsockname()[1]
    await serving.shutdown(sockets=[sock])


async def _exchange(port: int, request: bytes, *, responses: int = 1) -> bytes:
    """Send raw bytes, read until `responses` complete answers (or the server closes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    received = b""
    while received.count(b"accepted") + received.count(b"0\r\n\r\n") < responses:
        chunk = await reader.read(65536)
        if not chunk:
            break
        received += chunk
    writer.close()
    await writer.wait_closed()
    return received


VOTE = b"POST /vote HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"


async def test_a_response_leaves_in_one_write(server: int):
    received = await _exchange(server, VOTE)
    assert received.startswith(b"HTTP/1.1 201 Created\r\n")
    assert received.endswith(b'{"vote":"accepted"}')
    # Stock uvicorn writes the head and the body separately: two writes.
    assert WRITES == [received]


async def test_pipelined_requests_each_get_their_whole_answer(server: int):
    received = await _exchange(server, VOTE * 3, responses=3)
    assert received.count(b"HTTP/1.1 201 Created\r\n") == 3
    assert received.count(b'{"vote":"accepted"}') == 3
    assert b"".join(WRITES) == received
    assert len(WRITES) <= 3


async def test_a_stream_still_goes_out_event_by_event(server: int):
    received = await _exchange(server, b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert all(f"data: {n}".encode() in received for n in range(3))
    assert received.endswith(b"0\r\n\r\n")
    # Chunks written in different loop iterations are not held back for each other.
    assert len(WRITES) >= 3
    assert b"".join(WRITES) == received


async def test_closing_the_connection_sends_what_was_written_first(server: int):
    request = b"POST /vote HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    received = await _exchange(server, request)
    assert b"connection: close" in received.lower()
    assert received.endswith(b'{"vote":"accepted"}')


async def test_a_head_with_nothing_after_it_is_not_held_back(server: int):
    """A stream whose first event is not ready yet still answers at once."""
    FIRST_EVENT_READY.clear()
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    FIRST_EVENT_READY.set()
    event = await asyncio.wait_for(reader.readuntil(b"late\n\n"), 5)
    assert event.endswith(b"data: late\n\n")
    writer.close()
    await writer.wait_closed()


async def _until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (bounded generously)."""
    received = b""
    async with asyncio.timeout(30):
        while chunk := await reader.read(65536):
            received += chunk
    return received


async def test_an_oversized_head_is_refused_before_it_is_all_read(server: int):
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    answer = asyncio.create_task(_until_closed(reader))
    writer.write(b"GET /stream HTTP/1.1\r\nHost: t\r\nX-Big: ")
    sent = 0
    # Far more than the limit, in pieces: the server answers and stops reading long before.
    with contextlib.suppress(ConnectionError):
        while sent < 8 * 1024 * 1024 and not answer.done():
            writer.write(b"a" * 65536)
            await writer.drain()
            sent += 65536
            await asyncio.sleep(0)
    writer.close()
    received = await answer
    assert received.startswith(b"HTTP/1.1 431 ")
    assert sent < 8 * 1024 * 1024


async def test_a_large_head_within_the_limit_is_served(server: int):
    cookie = b"Cookie: c=" + b"x" * 12_000 + b"\r\n"
    received = await _exchange(
        server, b"POST /vote HTTP/1.1\r\nHost: t\r\n" + cookie + b"Content-Length: 2\r\n\r\n{}"
    )
    assert received.startswith(b"HTTP/1.1 201 Created\r\n")


async def test_a_head_that_never_ends_times_out(server: int, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(protocol, "HEAD_SECONDS", 0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"GET /stream HTTP/1.1\r\nHost: t\r\nX-Slow: a")  # and then nothing more
    received = await _until_closed(reader)
    writer.close()
    assert received.startswith(b"HTTP/1.1 408 ")


async def test_an_idle_connection_is_closed(server: int, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(protocol, "HEAD_SECONDS", 0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    assert await _until_closed(reader) == b""
    writer.close()


async def test_a_body_that_never_ends_is_cut_off(server: int, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(protocol, "BODY_SECONDS", 0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"POST /vote HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{")
    await _until_closed(reader)  # closed by the server, not by the 30 s bound
    writer.close()


async def test_a_stream_outlives_the_read_deadlines(server: int, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(protocol, "HEAD_SECONDS", 0.05)
    monkeypatch.setattr(protocol, "BODY_SECONDS", 0.05)
    FIRST_EVENT_READY.clear()
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    await asyncio.sleep(0.3)  # several deadlines long: none of them may end the response
    FIRST_EVENT_READY.set()
    event = await asyncio.wait_for(reader.readuntil(b"late\n\n"), 5)
    assert event.endswith(b"data: late\n\n")
    writer.close()
