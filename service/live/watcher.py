"""One watched poll in this process: it reads the poll's counts a few times a second and
encodes each change once, as the event every local listener of that poll sends."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.types import Message

from service.core.http import encode_json
from service.live.events import CLOSED_RECONNECT_MS, chunk, event
from service.polls.access import may_see
from service.polls.model import Poll
from service.voting.results import read_counts, shape

if TYPE_CHECKING:  # the hub makes watchers and listeners; only types flow back
    from service.live.hub import LiveHub
    from service.live.listener import Listener

log = logging.getLogger("civicpoll.live")

TICK = 0.25  # at most four Redis reads, and four updates, a second per watched poll


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
        self.update: Message = chunk(b"")
        self._snapshot: Message | None = None
        self.final: bytes | None = None  # set when the watch ends: `closed` event, or b""
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._run(), name=f"live-watch-{poll_id}")

    @property
    def snapshot(self) -> Message:
        if self._snapshot is None:
            self._snapshot = chunk(event("snapshot", self.data, self.state_id))
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
        self.update = chunk(event("results", data, self.state_id))
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
