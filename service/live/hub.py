"""Live results: one watcher per watched poll reads its counts a few times a second and
hands the same encoded server-sent event to every local stream watching that poll."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from service.core.errors import RateLimited, Unavailable
from service.core.http import encode_json
from service.core.settings import Settings
from service.ops import metrics
from service.ops.openapi import register
from service.polls.access import may_see, public_poll, require_results
from service.polls.cache import PollCache
from service.polls.model import Poll
from service.services import services
from service.voting.identity import client_ip
from service.voting.results import read_counts, shape

log = logging.getLogger("civicpoll.live")

TICK = 0.25  # at most four Redis reads, and four updates, a second per watched poll
RECONNECT_MS = 3000
CLOSED_RECONNECT_MS = 60_000  # a client that ignores `closed` should not hammer us
PING = b": ping\n\n"
_NEVER = -1  # a listener that has seen nothing yet gets a snapshot


def event(name: str, data: bytes, event_id: str = "", retry: int = 0) -> bytes:
    # msgspec never writes a raw newline, so the JSON fits on one `data:` line.
    head = b"retry: %d\n" % retry if retry else b""
    if event_id:
        head += b"id: " + event_id.encode() + b"\n"
    return head + b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


def _chunk(body: bytes) -> Message:
    return {"type": "http.response.body", "body": body, "more_body": True}


# ---------------------------------------------------------------- watcher


class Watcher:
    """One watched poll in this process: reads, encodes once, wakes every listener."""

    def __init__(self, hub: LiveHub, poll_id: str) -> None:
        self.hub = hub
        self.poll_id = poll_id
        self.listeners: set[Listener] = set()
        self.poll: Poll | None = None
        self.counts: dict[str, int] | None = None
        self.version = 0  # bumped on every change; listeners compare it with what they sent
        self.state_id = ""  # the event id: derived from the data, so equal on every instance
        self.data = b""
        self.update: Message = _chunk(b"")
        self._snapshot: Message | None = None
        self.final: bytes | None = None  # set when the watch ends: `closed` event, or b""
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._run(), name=f"live-watch-{poll_id}")

    @property
    def snapshot(self) -> Message:
        if self._snapshot is None:
            self._snapshot = _chunk(event("snapshot", self.data, self.state_id))
        return self._snapshot

    async def _run(self) -> None:
        try:
            await self.refresh()
        except asyncio.CancelledError:
            self.ready.cancel()
            raise
        except Exception as exc:  # handed to the requests waiting for the first read
            self.ready.set_exception(exc)
            self.ready.exception()  # retrieved: each waiter re-raises it itself
            self.hub.forget(self)
            return
        self.ready.set_result(None)
        failing = False
        while self.final is None:
            await asyncio.sleep(TICK)
            try:
                await self.refresh()
            except Exception as exc:
                # Redis or PostgreSQL away: keep the last state and keep trying, so
                # streams survive a blip instead of sending every client to reconnect.
                if not failing:
                    log.warning("live counts of poll %s unavailable: %r", self.poll_id, exc)
                failing = True
            else:
                failing = False
        self.hub.forget(self)

    async def refresh(self) -> None:
        # The poll cache drops a poll on every admin change, so this sees closes, edits
        # and visibility changes within a tick (or its TTL if an announcement was lost).
        poll = await self.hub.polls.get(self.poll_id)
        if poll is None or poll.status == "draft":
            self._finish(b"")  # deleted: streams end, and a reconnect hears 404
            return
        counts = await read_counts(self.hub.redis, self.poll_id)
        if poll is not self.poll:
            if self.poll is not None:
                for listener in list(self.listeners):
                    if not may_see(listener.grant, poll):
                        listener.detach(self)
            self.poll = poll
            self.counts = None  # labels may have changed: encode again
        if counts != self.counts:
            self.counts = counts
            self._publish(poll, counts)
        if poll.phase(datetime.now(UTC)) == "closed":
            body = encode_json({"poll_id": poll.id, "status": "closed"})
            self._finish(event("closed", body, self.state_id, CLOSED_RECONNECT_MS))

    def _publish(self, poll: Poll, counts: dict[str, int]) -> None:
        results = shape(poll, counts)
        data = encode_json(results)
        if data == self.data:
            return
        self.data = data
        digest = hashlib.blake2b(data, digest_size=6).hexdigest()
        self.state_id = f"{results['total']}-{digest}"
        self.update = _chunk(event("results", data, self.state_id))
        self._snapshot = None
        self.version += 1
        self._wake_all()

    def _finish(self, final: bytes) -> None:
        self.final = final
        self.hub.forget(self)  # a new viewer (say, after a reopen) gets a fresh watcher
        self._wake_all()

    def _wake_all(self) -> None:
        for listener in self.listeners:
            listener.wake()


# ---------------------------------------------------------------- listener


class Listener:
    """One open stream: what it has sent, and the future its task sleeps on."""

    def __init__(self, hub: LiveHub, grant: str, ip: str) -> None:
        self.hub = hub
        self.grant = grant
        self.ip = ip
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
        await self._send(send, _chunk(b"retry: %d\n\n" % RECONNECT_MS))
        loop = asyncio.get_running_loop()
        while not self.gone:
            if self.goodbye is not None:
                await self._send(send, _chunk(self.goodbye))
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
                        await self._send(send, _chunk(watcher.final))
                    busy = True
            if not self.seen:
                return  # every poll it watched closed, vanished or hid its results
            if busy:
                continue
            if self.pinged != self.hub.pings:
                self.pinged = self.hub.pings
                if time.monotonic() - self.last_send >= self.hub.heartbeat / 2:
                    await self._send(send, _chunk(PING))
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


# ---------------------------------------------------------------- hub


class LiveHub:
    """Every watcher and stream of this process, the caps, heartbeats and shutdown."""

    def __init__(self, settings: Settings, redis: aioredis.Redis, polls: PollCache) -> None:
        self.redis = redis
        self.polls = polls
        self.heartbeat = settings.stream_heartbeat_seconds
        self.send_timeout = settings.stream_send_timeout_seconds
        self.max_streams = settings.max_streams
        self.max_per_ip = settings.max_streams_per_ip
        self.watchers: dict[str, Watcher] = {}
        self.listeners: set[Listener] = set()
        self.per_ip: dict[str, int] = {}
        self.pings = 0
        self.closing = False
        self._empty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._restore_signals: Callable[[], None] = lambda: None

    def start(self) -> None:
        self._task = asyncio.create_task(self._housekeeping(), name="live-housekeeping")
        self._restore_signals = _on_exit_signal(self.drain)

    async def open(
        self, request: Request, polls: Iterable[Poll], grant: str, last_event_id: str | None
    ) -> EventStream:
        """Admit one stream (or refuse with 503/429) watching these polls."""
        settings: Settings = services(request).settings
        peer = request.client.host if request.client else None
        ip = client_ip(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxies)
        if self.closing:
            raise Unavailable("this server is shutting down", retry_after=2)
        if len(self.listeners) >= self.max_streams:
            raise Unavailable(
                "this server has as many live streams open as it allows; try again shortly",
                code="too_many_streams",
                retry_after=30,
            )
        if self.per_ip.get(ip, 0) >= self.max_per_ip:
            raise RateLimited(
                "too many live streams open from your address; close some first",
                code="too_many_streams",
                retry_after=30,
            )
        listener = Listener(self, grant, ip)
        self.listeners.add(listener)
        self.per_ip[ip] = self.per_ip.get(ip, 0) + 1
        metrics.STREAMS.set(len(self.listeners))
        try:
            watchers = [self.watch(poll.id) for poll in polls]
            for watcher in watchers:
                listener.attach(watcher)
            for watcher in watchers:
                # Shielded: one request giving up must not cancel the read others await.
                await asyncio.shield(watcher.ready)
            if last_event_id:
                listener.resume(last_event_id)
        except BaseException:
            listener.leave()
            raise
        return EventStream(listener)

    def watch(self, poll_id: str) -> Watcher:
        watcher = self.watchers.get(poll_id)
        if watcher is None:
            watcher = self.watchers[poll_id] = Watcher(self, poll_id)
        return watcher

    def forget(self, watcher: Watcher) -> None:
        if self.watchers.get(watcher.poll_id) is watcher:
            del self.watchers[watcher.poll_id]

    def unwatch(self, watcher: Watcher) -> None:
        """The last listener left: stop reading this poll."""
        self.forget(watcher)
        watcher.task.cancel()

    def release(self, listener: Listener) -> None:
        self.listeners.discard(listener)
        left = self.per_ip.get(listener.ip, 1) - 1
        if left > 0:
            self.per_ip[listener.ip] = left
        else:
            self.per_ip.pop(listener.ip, None)
        metrics.STREAMS.set(len(self.listeners))
        if not self.listeners:
            self._empty.set()

    async def _housekeeping(self) -> None:
        step = min(1.0, self.heartbeat, self.send_timeout / 2)
        next_ping = time.monotonic() + self.heartbeat
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            for listener in list(self.listeners):
                since = listener.sending_since
                if since and now - since > self.send_timeout:
                    listener.drop()
            if now >= next_ping:
                next_ping = now + self.heartbeat
                self.pings += 1
                for listener in self.listeners:
                    listener.wake()

    def drain(self) -> None:
        """Shutdown begins: refuse new streams, say goodbye to open ones."""
        if self.closing:
            return
        self.closing = True
        log.info("saying goodbye to %d live streams", len(self.listeners))
        for listener in self.listeners:
            # Spread the reconnects over a few seconds so the other instances are not
            # hit by every client at once.
            retry = random.randint(1000, 5000)  # noqa: S311 -- jitter, not a secret
            listener.goodbye = event("goodbye", b'{"reason":"shutdown"}', retry=retry)
            listener.wake()

    async def close(self, grace: float = 2.0) -> None:
        self.drain()
        if self.listeners:
            self._empty.clear()
            try:
                await asyncio.wait_for(self._empty.wait(), grace)
            except TimeoutError:
                log.warning("%d live streams did not end in time", len(self.listeners))
        self._restore_signals()
        tasks = [w.task for w in self.watchers.values()]
        if self._task is not None:
            tasks.append(self._task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _on_exit_signal(callback: Callable[[], None]) -> Callable[[], None]:
    """Run `callback` on SIGTERM/SIGINT before the server's own handler.

    uvicorn waits for every open response to finish before it runs the lifespan's
    shutdown, so streams would keep it waiting (forever, by default) unless they hear
    of the signal first. Returns a function that puts the previous handlers back.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Callable[[int, FrameType | None], Any]] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        previous[signum](signum, frame)

    for sig in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(sig)
        if callable(current):  # chain only in front of a real handler (the server's)
            previous[sig] = current
            signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, old)

    return restore


# ---------------------------------------------------------------- route


async def stream_results(request: Request) -> Response:
    poll = await public_poll(request)
    grant = await require_results(request, poll)
    hub: LiveHub = services(request).live
    return await hub.open(request, [poll], grant, request.headers.get("last-event-id"))


register(
    "get",
    "/v1/polls/{poll_id}/results/stream",
    "Live results as server-sent events: snapshot, results, closed; heartbeats; resumable"
    " with Last-Event-ID (obeys the results visibility; ?key= takes a signed dashboard key)",
)

routes = [Route("/v1/polls/{poll_id}/results/stream", stream_results, methods=["GET"])]
