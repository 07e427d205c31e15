"""Results: counts from Redis shaped for people (whole percentages, one rounding rule)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import redis.asyncio as aioredis

from service.core.http import json_body
from service.feedback.scales import summary, value_label
from service.polls.model import Poll
from service.voting.keys import HELD_FIELD, counts_key


def percentages(counts: list[int]) -> list[int]:
    """Each option's whole percentage, rounded half up on its own (all 0 with no votes).

    The one rounding rule for every figure people see (widget, SVG, dashboard, console,
    results JSON): equal counts always show equal percentages, so the sum may be 99, 100
    or 101 (three equal thirds show 33% each). Integer arithmetic, so 0.5 is exact."""
    total = sum(counts)
    if total == 0:
        return [0] * len(counts)
    # floor(c * 100 / total + 1/2) without floats.
    return [(200 * c + total) // (2 * total) for c in counts]


def shape(poll: Poll, counts: dict[str, int]) -> dict[str, Any]:
    """The public results. A scale's (rating, NPS, Likert) add its count, average,
    median and distribution, and NPS its score, beside the per-option figures."""
    votes = [max(counts.get(o.id, 0), 0) for o in poll.options]
    shares = percentages(votes)
    shaped = {
        "poll_id": poll.id,
        "total": sum(votes),
        "options": [
            {"id": o.id, "label": o.label, "votes": v, "percent": p}
            for o, v, p in zip(poll.options, votes, shares, strict=True)
        ],
        # Votes held for review: recorded, not in the figures above until released.
        "held": max(counts.get(HELD_FIELD, 0), 0),
    }
    if poll.is_rating:
        values = [o.value for o in poll.options if o.value is not None]
        shaped.update(summary(values, votes, poll.kind))
        shaped["distribution"] = [
            {"value": v, "label": value_label(poll, v), "votes": n, "percent": p}
            for v, n, p in zip(values, votes, shares, strict=True)
        ]
    return shaped


def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def read_counts(redis: aioredis.Redis, poll_id: str) -> dict[str, int]:
    raw = await redis.hgetall(counts_key(poll_id))
    return {as_text(k): int(v) for k, v in raw.items()}


class CountsCache:
    """Counts of a poll read at most once per `max_age` seconds per process: a results
    page going viral costs Redis a few reads a second, not one per viewer."""

    def __init__(self, redis: aioredis.Redis, max_age: float = 0.25) -> None:
        self._redis = redis
        self._max_age = max_age
        self._entries: dict[str, tuple[float, dict[str, int]]] = {}
        self._rendered: dict[str, tuple[dict[str, int], Poll, bytes, str]] = {}

    async def get(self, poll_id: str) -> dict[str, int]:
        now = time.monotonic()
        entry = self._entries.get(poll_id)
        if entry is not None and now - entry[0] < self._max_age:
            return entry[1]
        counts = await read_counts(self._redis, poll_id)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[poll_id] = (now, counts)
        return counts

    async def rendered(self, poll: Poll) -> tuple[bytes, str]:
        """The poll's results as JSON bytes and their ETag, encoded once per counts
        refresh and shared by every request until the next one."""
        counts = await self.get(poll.id)
        memo = self._rendered.get(poll.id)
        if memo is not None and memo[0] is counts and memo[1] is poll:
            return memo[2], memo[3]
        body = json_body(shape(poll, counts))
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        if len(self._rendered) > 10_000:
            self._rendered.clear()
        self._rendered[poll.id] = (counts, poll, body, etag)
        return body, etag

    def forget(self, poll_id: str) -> None:
        """Drop a poll's counts (held votes were reviewed): the next read is Redis's."""
        self._entries.pop(poll_id, None)

    def put(self, poll_id: str, counts: dict[str, int]) -> None:
        """Counts seen elsewhere (a vote's answer) refresh the cache for free. Batches
        decided side by side may answer out of order: an older, smaller snapshot must not
        replace a newer one (counts only shrink when a vote is taken back, and max_age
        bounds how long that takes to show)."""
        entry = self._entries.get(poll_id)
        if entry is not None and sum(entry[1].values()) > sum(counts.values()):
            return
        self._entries[poll_id] = (time.monotonic(), counts)
