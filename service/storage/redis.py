"""The Redis client the service uses, with the timeouts the vote path relies on."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

# Every wait on Redis is bounded by these: a stalled Redis costs a command at most one
# read timeout, so a vote or a results read hears 503 within about a second (the
# engine's own budgets, voting/engine.py, bound the rest).
CONNECT_TIMEOUT = 0.25
READ_TIMEOUT = 0.5


def connect_redis(url: str) -> aioredis.Redis:
    # One quick retry on a broken connection only (the first stale connection after a
    # restart). Never on a timeout: the command may still run once Redis wakes up, and
    # a resent vote script would then be decided twice.
    return aioredis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=READ_TIMEOUT,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        health_check_interval=30,
        max_connections=200,
    )
