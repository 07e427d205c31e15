"""Keeping Redis honest: rebuild counts and voter marks from the ledger, notice a Redis
that lost its memory, and reconcile live counts against the ledger."""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
import redis.asyncio as aioredis

from service.ops import metrics
from service.storage.db import Conn
from service.voting.keys import (
    EPOCH,
    EPOCH_REBUILDING,
    IDEMPOTENCY_TTL,
    VOTER_MARK_TTL,
    counts_key,
    idempotency_key,
    ip_mark_key,
    minutes_key,
    voter_mark_key,
)
from service.voting.results import read_counts

log = logging.getLogger("civicpoll.counts")

_LEDGER_COUNTS = """
SELECT o.id::text AS option_id, count(v.id) AS votes
FROM poll_options o LEFT JOIN votes v ON v.poll_id = o.poll_id AND o.id = ANY (v.option_ids)
WHERE o.poll_id = $1
GROUP BY o.id
"""


async def ledger_counts(con: Conn | asyncpg.Pool, poll_id: str) -> dict[str, int]:
    rows = await con.fetch(_LEDGER_COUNTS, poll_id)
    return {row["option_id"]: row["votes"] for row in rows}


async def rebuild_poll(pool: asyncpg.Pool, redis: aioredis.Redis, poll_id: str) -> dict[str, int]:
    """Counts, voter marks and recent per-minute buckets of one poll, from the ledger."""
    counts = await ledger_counts(pool, poll_id)
    mode_row = await pool.fetchrow(
        "SELECT dedupe_mode, dedupe_window_hours FROM polls WHERE id = $1", poll_id
    )
    if mode_row is None:
        return {}
    window = mode_row["dedupe_window_hours"] * 3600
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(counts_key(poll_id))
        if counts:
            pipe.hset(counts_key(poll_id), mapping=counts)  # type: ignore[arg-type]
        await pipe.execute()
    async with pool.acquire() as con, con.transaction():
        # Marks: a Redis that lost them must not let anyone vote twice before the ledger
        # would refuse it anyway; restoring them keeps the answer a plain 409.
        cursor = con.cursor(
            "SELECT voter_key, ip_hash, ip_key IS NOT NULL AS ip_dedupe, idempotency_key,"
            " extract(epoch FROM cast_at)::bigint AS at FROM votes WHERE poll_id = $1",
            poll_id,
        )
        now = int(time.time())
        queued = 0
        async with redis.pipeline(transaction=False) as pipe:
            async for row in cursor:
                if row["voter_key"]:
                    pipe.set(voter_mark_key(poll_id, row["voter_key"]), 1, ex=VOTER_MARK_TTL)
                age = now - row["at"]
                if row["ip_dedupe"] and age < window:
                    pipe.set(ip_mark_key(poll_id, row["ip_hash"]), 1, ex=window - age)
                if row["idempotency_key"] and age < IDEMPOTENCY_TTL:
                    key = idempotency_key(poll_id, row["idempotency_key"])
                    pipe.set(key, 1, ex=IDEMPOTENCY_TTL - age)
                queued += 1
                if queued % 1000 == 0:
                    await pipe.execute()
            await pipe.execute()
    minutes = await pool.fetch(
        "SELECT (extract(epoch FROM cast_at)::bigint / 60)::text AS minute, count(*) AS n"
        " FROM votes WHERE poll_id = $1 AND cast_at > now() - interval '6 hours'"
        " GROUP BY 1",
        poll_id,
    )
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(minutes_key(poll_id))
        if minutes:
            pipe.hset(minutes_key(poll_id), mapping={r["minute"]: r["n"] for r in minutes})
        await pipe.execute()
    return counts


async def rebuild_all(pool: asyncpg.Pool, redis: aioredis.Redis, reason: str) -> int:
    poll_ids = [
        r["id"]
        for r in await pool.fetch("SELECT id FROM polls WHERE status <> 'draft' ORDER BY id")
    ]
    for poll_id in poll_ids:
        await rebuild_poll(pool, redis, poll_id)
    metrics.REBUILDS.labels(reason).inc()
    log.warning("rebuilt counts of %d poll(s) from the ledger (%s)", len(poll_ids), reason)
    return len(poll_ids)


async def ensure_epoch(pool: asyncpg.Pool, redis: aioredis.Redis) -> bool:
    """Rebuild everything when Redis no longer holds our epoch mark; True if it did."""
    if await redis.exists(EPOCH):
        return False
    # SET NX: of several processes noticing at once, one rebuilds.
    if not await redis.set(EPOCH_REBUILDING, 1, nx=True, ex=120):
        return False
    try:
        await rebuild_all(pool, redis, "redis_empty")
        await redis.set(EPOCH, int(time.time()))
    finally:
        await redis.delete(EPOCH_REBUILDING)
    return True


async def reconcile(
    pool: asyncpg.Pool, redis: aioredis.Redis, suspects: dict[str, int]
) -> dict[str, int]:
    """Compare open polls' Redis totals with the ledger. A drift seen twice in a row with
    the same size is not votes in flight: repair it from the ledger."""
    drift: dict[str, int] = {}
    poll_ids = [r["id"] for r in await pool.fetch("SELECT id FROM polls WHERE status = 'open'")]
    for poll_id in poll_ids:
        live = sum((await read_counts(redis, poll_id)).values())
        truth = sum((await ledger_counts(pool, poll_id)).values())
        delta = live - truth
        metrics.COUNT_DRIFT.labels(poll_id).set(delta)
        if delta:
            drift[poll_id] = delta
            if suspects.get(poll_id) == delta:
                log.warning(
                    "poll %s: Redis total drifts from the ledger by %+d; repairing", poll_id, delta
                )
                await rebuild_poll(pool, redis, poll_id)
                metrics.REBUILDS.labels("drift").inc()
            else:
                log.info("poll %s: Redis total differs from the ledger by %+d", poll_id, delta)
    return drift


async def maintain(pool: asyncpg.Pool, redis: aioredis.Redis, reconcile_every: float) -> None:
    """Background task: watch for an emptied Redis every 2 s, reconcile now and then."""
    suspects: dict[str, int] = {}
    last_reconcile = time.monotonic()
    while True:
        try:
            await ensure_epoch(pool, redis)
            if reconcile_every and time.monotonic() - last_reconcile >= reconcile_every:
                last_reconcile = time.monotonic()
                suspects = await reconcile(pool, redis, suspects)
        except (
            aioredis.RedisError,
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            TimeoutError,
        ) as exc:
            log.warning("count maintenance skipped: %r", exc)
        await asyncio.sleep(2.0)
