"""Server-sent events over the ASGI app in-process: a stream read message by message and
parsed into events, plus the small helpers every live test uses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

PollMaker = Callable[..., Awaitable[dict[str, Any]]]
TokenMaker = Callable[..., Awaitable[str]]
WAIT = 5.0  # an upper bound for things that happen within a tick or two, never a pause


@dataclass
class Event:
    name: str = ""
    data: str = ""
    id: str = ""
    retry: str = ""
    comment: str = ""

    @property
    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class Stream:
    """A response of the ASGI app read message by message, parsed into SSE events."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    chunks: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    disconnect: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    _buffer: bytes = b""

    async def event(self, *, comments: bool = False) -> Event:
        """The next event; heartbeat comments only when asked for."""
        while True:
            while b"\n\n" not in self._buffer:
                get = asyncio.ensure_future(self.chunks.get())
                end = asyncio.ensure_future(self.ended.wait())
                done, _ = await asyncio.wait(
                    {get, end}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED
                )
                if get in done:
                    end.cancel()
                    self._buffer += get.result()
                    continue
                get.cancel()
                end.cancel()
                raise AssertionError("stream ended" if end in done else "no event in time")
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            ev = Event()
            for line in block.decode().split("\n"):
                key, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if key == "":
                    ev.comment = value
                elif key == "event":
                    ev.name = value
                else:
                    setattr(ev, key, value)
            if not ev.name and not (comments and ev.comment):
                continue
            return ev

    async def end(self) -> None:
        """Wait for the server to finish the response (it must, within WAIT)."""
        await asyncio.wait_for(self.ended.wait(), WAIT)

    async def close(self) -> None:
        self.disconnect.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, WAIT)


async def open_stream(
    app: Any,
    path: str,
    headers: dict[str, str] | None = None,
    ip: str = "127.0.0.1",
    stall_after: int | None = None,
) -> Stream:
    """Start a GET on the app; returns once the response has started."""
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        + [(b"host", b"testserver")],
        "client": (ip, 50000),
        "server": ("testserver", 80),
    }
    stream = Stream()
    started = asyncio.Event()
    never = asyncio.Event()
    bodies = 0
    sent_request = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await stream.disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal bodies
        if message["type"] == "http.response.start":
            stream.status = message["status"]
            stream.headers = {k.decode(): v.decode() for k, v in message["headers"]}
            started.set()
            return
        bodies += 1
        if stall_after is not None and bodies > stall_after:
            await never.wait()  # a reader that stopped reading: the send never completes
        if stream.status != 200:
            stream.body += message.get("body", b"")
        elif message.get("body"):
            stream.chunks.put_nowait(message["body"])
        if not message.get("more_body"):
            stream.ended.set()

    async def run() -> None:
        try:
            await app(scope, receive, send)
        finally:
            stream.ended.set()
            started.set()

    stream.task = asyncio.create_task(run())
    OPEN.append(stream)
    await asyncio.wait_for(started.wait(), WAIT)
    if stream.status != 200:
        await stream.end()
    return stream


OPEN: list[Stream] = []  # every stream opened; conftest closes those a test left open


async def vote(
    client: httpx.AsyncClient, poll: dict[str, Any], option: int = 0, page: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"choices": [poll["options"][option]["id"]]}
    if page:
        body["page"] = page
    r = await client.post(f"/v1/polls/{poll['id']}/votes", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def stream_path(poll: dict[str, Any]) -> str:
    return f"/v1/polls/{poll['id']}/results/stream"
