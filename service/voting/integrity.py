"""Integrity figures per poll: how many attempts were accepted, refused, and why."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import redis.asyncio as aioredis

from service.ops import metrics
from service.voting.keys import stats_key
from service.voting.results import as_text

log = logging.getLogger("civicpoll.integrity")

FIGURES = metrics.OUTCOMES


MAX_POLLS_EXPORTED = 2000


class OutcomeTally:
    """Outcomes decided in Python (invalid, closed) are tallied here and flushed to the
    poll's Redis stats hash once a second, so refusing bad input costs no round trip.
    Outcomes decided in Lua are counted there, in the same call that decides them."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._pending: Counter[tuple[str, str]] = Counter()
        self._totals = metrics.VOTES.values
        # This process's figures per poll, for Prometheus (which sums the processes);
        # bounded so a long-lived process does not grow with every poll it ever saw.
        self.per_poll = metrics.POLL_FIGURES

    def note(
        self, poll_id: str | None, outcome: str, *, in_redis: bool = False, n: int = 1
    ) -> None:
        self._totals[outcome] += n
        if poll_id is None:
            return
        figures = self.per_poll.get(poll_id)
        if figures is None:
            if len(self.per_poll) >= MAX_POLLS_EXPORTED:
                self.per_poll.pop(next(iter(self.per_poll)))
            figures = self.per_poll[poll_id] = Counter()
        figures[outcome] += n
        if not in_redis:
            self._pending[(poll_id, outcome)] += n

    async def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, Counter()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for (poll_id, outcome), n in pending.items():
                    pipe.hincrby(stats_key(poll_id), outcome, n)
                await pipe.execute()
        except (aioredis.RedisError, OSError):
            self._pending.update(pending)  # try again next time

    async def run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self.flush()


async def read_figures(redis: aioredis.Redis, poll_id: str) -> dict[str, int]:
    raw = await redis.hgetall(stats_key(poll_id))
    found = {as_text(k): int(v) for k, v in raw.items()}
    return {name: found.get(name, 0) for name in FIGURES}
