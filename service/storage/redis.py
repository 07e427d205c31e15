"""The Redis client the service uses, with the timeouts the vote path relies on."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def connect_redis(url: str) -> aioredis.Redis:
    # Short timeouts and one quick retry: with Redis down, a vote must hear 503 within a
    # second rather than hang; the retry absorbs the first stale connection after a restart.
    return aioredis.from_url(
        url,
        socket_connect_timeout=0.5,
        socket_timeout=1.0,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
        max_connections=200,
    )
