"""Redis key names. Every key of one poll carries the hash tag {p:ID}, so a poll's keys
share a Redis Cluster slot and one Lua script may touch them all."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

log = logging.getLogger("civicpoll.keys")

# Written once Redis holds counts rebuilt from the ledger; its absence means Redis lost
# its memory (restart without persistence, flush) and the counts must be rebuilt.
EPOCH = "civicpoll:epoch"


def poll_prefix(poll_id: str) -> str:
    return "{p:" + poll_id + "}:"


def counts_key(poll_id: str) -> str:
    return poll_prefix(poll_id) + "c"


def stats_key(poll_id: str) -> str:
    return poll_prefix(poll_id) + "s"


def minutes_key(poll_id: str) -> str:
    return poll_prefix(poll_id) + "m"


def voter_mark_key(poll_id: str, voter_hash: str) -> str:
    return poll_prefix(poll_id) + "v:" + voter_hash


async def drop_poll_keys(redis: aioredis.Redis, poll_id: str) -> None:
    """Remove every key of a deleted poll; harmless to skip when Redis is away."""
    try:
        pattern = poll_prefix(poll_id).replace("{", "\\{").replace("}", "\\}") + "*"
        batch = []
        async for key in redis.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 500:
                await redis.unlink(*batch)
                batch.clear()
        if batch:
            await redis.unlink(*batch)
    except (aioredis.RedisError, OSError):
        log.warning("could not remove the Redis keys of deleted poll %s", poll_id)
