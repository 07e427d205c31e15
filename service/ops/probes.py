"""Figures read at scrape time: whether PostgreSQL and Redis answer, and how long the
moderation queue has waited. At most one look every few seconds, whoever scrapes: an
anonymous loop on /metrics costs no more than one scraper."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from redis import asyncio as aioredis

from service.ops import metrics

PROBE_EVERY = 5.0
_PROBE_TIMEOUT = 1.0
_WAITING = (
    "SELECT state, count(*) AS n, min(created_at) AS oldest FROM comments"
    " WHERE state IN ('pending', 'held') GROUP BY state"
)


class ScrapeProbes:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis) -> None:
        self._pool, self._redis = pool, redis
        self._last = -PROBE_EVERY
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        if time.monotonic() - self._last < PROBE_EVERY:
            return
        async with self._lock:
            if time.monotonic() - self._last < PROBE_EVERY:
                return
            self._last = time.monotonic()
            await asyncio.gather(self._postgres(), self._redis_up())

    async def _postgres(self) -> None:
        try:
            rows = await self._pool.fetch(_WAITING, timeout=_PROBE_TIMEOUT)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            metrics.DEPENDENCY_UP.labels("postgres").set(0)
            return
        metrics.DEPENDENCY_UP.labels("postgres").set(1)
        waiting = {r["state"]: r for r in rows}
        oldest = [r["oldest"] for r in rows]
        for state in ("pending", "held"):
            row = waiting.get(state)
            metrics.MODERATION_WAITING.labels(state).set(row["n"] if row else 0)
        if oldest:
            now = time.time()
            metrics.MODERATION_OLDEST.set(max(0.0, now - min(o.timestamp() for o in oldest)))
        else:
            metrics.MODERATION_OLDEST.set(0)

    async def _redis_up(self) -> None:
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT):
                await self._redis.ping()
        except (aioredis.RedisError, OSError, TimeoutError):
            metrics.DEPENDENCY_UP.labels("redis").set(0)
            return
        metrics.DEPENDENCY_UP.labels("redis").set(1)
