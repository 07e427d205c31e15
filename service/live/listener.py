"""One open stream: the listener that sends each watched poll's events as they change,
heartbeats and the goodbye, and the ASGI response that runs it."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from service.live.events import PING, RECONNECT_MS, chunk

if TYPE_CHECKING:  # the hub makes watchers and listeners; only types flow back
    from service.live.hub import LiveHub
    from service.live.watcher import Watcher

log = logging.getLogger("civicpoll.live")

_NEVER = -1  # a listener that has seen nothing yet gets a snapshot


class Listener:
    """One open stream: what it has sent, and the future its task sleeps on."""

    def __init__(self, hub: LiveHub, grant: str, ip: str, network: str) -> None:
        self.hub = hub
        self.grant = grant
        self.ip = ip
        self.network = network  # the /24 or /64 the hub counts it under
        self.seen: dict[Watcher, int] = {}
        self.pinged = hub.pings
        self.goodbye: bytes | None = None
        self.gone = False  # the client disconnected
        self.dropped = False  # the hub gave up on a stalled reader
        self.sending_since = 0.0
        self.last_send = 0.0
        self.task: asyncio.Task[Any] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._left = False

    def attach(self, watcher: Watcher) -> None:
        self.seen[watcher] = _NEVER
        watcher.listeners.add(self)

    def detach(self, watcher: Watcher) -> None:
        self.seen.pop(watcher, None)
        watcher.listeners.discard(self)
        if not watcher.listeners:
            self.hub.unwatch(watcher)
        self.wake()

    def resume(self, last_event_id: str) -> None:
        """After a reconnect: nothing to send if the client is current, else the update."""
        for watcher in self.seen:
            same = last_event_id == watcher.state_id
            self.seen[watcher] = watcher.version if same else watcher.version - 1

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def drop(self) -> None:
        self.dropped = True
        if self.task is not None:
            self.task.cancel()

    def leave(self) -> None:
        if self._left:
            return
        self._left = True
        for watcher in list(self.seen):
            self.detach(watcher)
        self.hub.release(self)

    async def _send(self, send: Send, message: Message) -> None:
        # The hub's sweep drops the stream when one send waits longer than the timeout:
        # two clock reads here are cheaper than a timer per send.
        self.sending_since = self.last_send = time.monotonic()
        await send(message)
        self.sending_since = 0.0

    async def watch_disconnect(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        self.wake()

    async def pump(self, send: Send) -> None:
        await self._send(send, chunk(b"retry: %d\n\n" % RECONNECT_MS))
        loop = asyncio.get_running_loop()
        while not self.gone:
            if self.goodbye is not None:
                await self._send(send, chunk(self.goodbye))
                return
            busy = False
            for watcher in list(self.seen):
                seen = self.seen.get(watcher)
                if seen is None:  # detached while we were sending
                    continue
                if seen != watcher.version:
                    self.seen[watcher] = watcher.version
                    await self._send(send, watcher.snapshot if seen == _NEVER else watcher.update)
                    busy = True
                elif watcher.final is not None:
                    self.detach(watcher)
                    if watcher.final:
                        await self._send(send, chunk(watcher.final))
                    busy = True
            if not self.seen:
                return  # every poll it watched closed, vanished or hid its results
            if busy:
                continue
            if self.pinged != self.hub.pings:
                self.pinged = self.hub.pings
                if time.monotonic() - self.last_send >= self.hub.heartbeat / 2:
                    await self._send(send, chunk(PING))
                continue
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


class EventStream(Response):
    """The ASGI side of one listener: headers, the pump, and a quiet end when dropped."""

    media_type = "text/event-stream"

    def __init__(self, listener: Listener) -> None:
        # Not Response.__init__: it would add `content-length: 0` to an endless body.
        self.listener = listener
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),  # nginx: pass events through unbuffered
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        listener = self.listener
        listener.task = asyncio.current_task()
        disconnect = asyncio.create_task(listener.watch_disconnect(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await listener.pump(send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not listener.dropped or task is None:
                raise
            # Our own cancel, not the server's: end this response and nothing else.
            task.uncancel()
            log.info("dropped a live stream whose reader stopped reading")
        finally:
            disconnect.cancel()
            listener.leave()
