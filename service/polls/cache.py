"""Per-process cache of poll definitions, dropped when an admin change is announced."""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
import redis.asyncio as aioredis

from service.polls.model import Poll
from service.polls.store import load_poll
from service.storage.redis import messages, publish

log = logging.getLogger("civicpoll.pollcache")

CHANNEL = "civicpoll:poll-changed"
ALL = "*"
# The TTLs bound staleness if an announcement is ever missed (Redis down when sent).
_TTL_FOUND = 30.0
_TTL_MISSING = 5.0
# Unknown ids are remembered briefly so a flood of one bad id costs one query, but a
# flood of random ids must not grow the process: the oldest misses go first.
MAX_MISSING = 10_000
# Polls found: a portal that has run for years has many thousands; past this many, the
# expired entries go (and, if none has expired, the oldest), so memory stays flat.
MAX_FOUND = 10_000


class PollCache:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis) -> None:
        self._pool = pool
        self._redis = redis
        self._entries: dict[str, tuple[float, Poll | None]] = {}
        self._loading: dict[str, asyncio.Future[Poll | None]] = {}
        self._missing: dict[str, str] = {}  # ids cached as unknown, oldest first
        # Set once announcements are heard: from then on nothing announced is missed.
        self.listening = asyncio.Event()

    async def get(self, poll_id: str) -> Poll | None:
        entry = self._entries.get(poll_id)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        # One load per poll at a time: a viral poll's expiry must not become a
        # thundering herd of identical queries.
        pending = self._loading.get(poll_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Poll | None] = asyncio.get_running_loop().create_future()
        self._loading[poll_id] = future
        try:
            poll = await load_poll(self._pool, poll_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        finally:
            self._loading.pop(poll_id, None)
        self._missing.pop(poll_id, None)
        if poll is None:
            if len(self._missing) >= MAX_MISSING:
                self._entries.pop(self._missing.pop(next(iter(self._missing))), None)
            self._missing[poll_id] = poll_id
        ttl = _TTL_FOUND if poll is not None else _TTL_MISSING
        if len(self._entries) >= MAX_FOUND + MAX_MISSING:
            self._evict()
        self._entries[poll_id] = (time.monotonic() + ttl, poll)
        future.set_result(poll)
        return poll

    def _evict(self) -> None:
        now = time.monotonic()
        expired = [pid for pid, (until, _) in self._entries.items() if until <= now]
        for pid in expired or [next(iter(self._entries))]:
            self._entries.pop(pid, None)
            self._missing.pop(pid, None)

    def drop(self, poll_id: str) -> None:
        if poll_id == ALL:
            self._entries.clear()
            self._missing.clear()
        else:
            self._entries.pop(poll_id, None)
            self._missing.pop(poll_id, None)

    async def announce(self, poll_id: str) -> None:
        """Drop locally now and tell every other process."""
        self.drop(poll_id)
        try:
            await publish(self._redis, CHANNEL, poll_id)
        except (aioredis.RedisError, OSError):
            # Other processes fall back on the TTL; the change itself is committed.
            log.warning(
                "could not announce change of poll %s; caches expire within %ss",
                poll_id,
                _TTL_FOUND,
            )

    def _subscribed(self) -> None:
        self._entries.clear()
        self.listening.set()

    async def listen(self) -> None:
        """Background task: apply announcements from other processes, forever."""
        while True:
            try:
                # Anything announced while we were not subscribed is lost: start clean
                # once subscribed.
                async for data in messages(self._redis, CHANNEL, self._subscribed):
                    self.drop(data.decode())
            except (aioredis.RedisError, OSError):
                await asyncio.sleep(1.0)
