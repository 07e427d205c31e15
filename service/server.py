"""uvicorn's httptools protocol, writing each response in one piece.

Stock uvicorn writes a response's head and its body with two `transport.write` calls, and
uvloop sends each at once: two `send` syscalls and two TCP segments per response, where
one would do. On loopback the sender's kernel also does the receiver's TCP work, so the
second write costs about as much as the first. Here a response head is held back and
leaves with the write that follows it: Starlette sends head and body from the same task
step, so they always meet. A head with nothing after it in that event-loop iteration (a
stream whose first chunk is not ready yet) leaves on the next iteration by itself; other
writes (stream events) go straight through. Nothing ever waits on a timer.

Run with `uvicorn --http service.server:HttpToolsProtocol` (`civicpoll serve` does).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _HttpToolsProtocol


class CoalescingTransport:
    """Holds a response head until the next write; everything else is the real
    transport's (uvicorn's flow control keeps talking to that one directly)."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held = b""

    def write(self, data: bytes) -> None:
        if self._held:
            data, self._held = self._held + data, b""
        elif type(data) is bytes and data.startswith(b"HTTP/1.1 "):  # uvicorn's heads
            self._held = data
            self._loop.call_soon(self.flush)  # in case no body follows in this iteration
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._held:
            data, self._held = self._held, b""
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()  # what was written before close() still goes out
        self._transport.close()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()  # a protocol switch (WebSocket upgrade) takes over the stream as is
        self._transport.set_protocol(protocol)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpToolsProtocol(_HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
