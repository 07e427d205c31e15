"""The live hub of this process: every watcher and stream, the caps on streams (in all,
per network, per address), the heartbeat and stalled-reader sweep, and the goodbye on
shutdown (signals included)."""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

import redis.asyncio as aioredis
from starlette.requests import Request

from service.core.errors import RateLimited, Unavailable
from service.core.settings import Settings
from service.identity.links import LinkTokens
from service.identity.request import request_identity
from service.live.events import event
from service.live.listener import EventStream, Listener
from service.live.watcher import Watcher
from service.ops import metrics
from service.polls.cache import PollCache
from service.polls.model import Poll
from service.services import services

log = logging.getLogger("civicpoll.live")


class LiveHub:
    """Every watcher and stream of this process, the caps, heartbeats and shutdown."""

    def __init__(self, settings: Settings, redis: aioredis.Redis, polls: PollCache) -> None:
        self.redis = redis
        self.polls = polls
        self.heartbeat = settings.stream_heartbeat_seconds
        self.send_timeout = settings.stream_send_timeout_seconds
        self.max_streams = settings.max_streams
        self.max_per_ip = settings.max_streams_per_ip
        self.max_per_network = settings.max_streams_per_network
        self.watchers: dict[str, Watcher] = {}
        self.listeners: set[Listener] = set()
        self.per_ip: dict[str, int] = {}
        self.per_network: dict[str, int] = {}
        # The tokens behind dashboard links, as this process last saw them.
        self.link_tokens = LinkTokens(settings.link_token_recheck_seconds)
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
        who = request_identity(request, settings.trusted_proxies)
        # The address as budgets key it (an IPv6 client's /64), like votes and comments.
        ip, network = who.budget_address, who.network
        if self.closing:
            raise Unavailable("this server is shutting down", retry_after=2)
        if len(self.listeners) >= self.max_streams:
            raise Unavailable(
                "this server has as many live streams open as it allows; try again shortly",
                code="too_many_streams",
                retry_after=30,
            )
        # Both caps answer 429 too_many_streams; the message says which one was hit.
        if self.per_ip.get(ip, 0) >= self.max_per_ip:
            raise RateLimited(
                f"too many live streams open from your address (at most {self.max_per_ip});"
                " close some first",
                code="too_many_streams",
                retry_after=30,
            )
        if self.per_network.get(network, 0) >= self.max_per_network:
            raise RateLimited(
                f"too many live streams open from your network {network}"
                f" (at most {self.max_per_network}); close some first",
                code="too_many_streams",
                retry_after=30,
            )
        listener = Listener(self, grant, ip, network)
        self.listeners.add(listener)
        self.per_ip[ip] = self.per_ip.get(ip, 0) + 1
        self.per_network[network] = self.per_network.get(network, 0) + 1
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
        _count_down(self.per_ip, listener.ip)
        _count_down(self.per_network, listener.network)
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


def _count_down(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 1) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


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
