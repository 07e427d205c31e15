"""Redis's clock as seen from this process: decide deadlines are spelled in it, since the
machines' clocks differ and vote.lua can only read Redis's own (TIME)."""

from __future__ import annotations

import time

import redis.asyncio as aioredis


class RedisClock:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self.offset_ms = 0.0  # Redis's clock minus ours; 0 until measured (one machine)

    def now_ms(self) -> float:
        """Now, in Redis's clock (unix ms)."""
        return time.time() * 1000 + self.offset_ms

    async def sync(self) -> None:
        """Measure Redis's clock against ours: the sample with the shortest round trip,
        taken at its middle (an error of at most half that round trip)."""
        best: tuple[float, float] | None = None
        for _ in range(3):
            before = time.time()
            seconds, micros = await self._redis.time()
            after = time.time()
            offset = seconds * 1000 + micros / 1000 - (before + after) * 500
            if best is None or after - before < best[0]:
                best = (after - before, offset)
        assert best is not None
        self.offset_ms = best[1]
