"""Keeping Redis honest: rebuild counts and voter marks from the ledger, notice a Redis
that lost its memory, and reconcile live counts against the ledger."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import asyncpg
import redis.asyncio as aioredis

from service.ops import metrics
from service.storage.db import Conn
from service.storage.redis import PrimaryWatch, per_node_keys
from service.voting.engine import LEDGER_BUDGET
from service.voting.keys import (
    EPOCH,
    EPOCH_REBUILDING,
    HELD_FIELD,
    IDEMPOTENCY_TTL,
    REBUILDING_TTL,
    VOTER_MARK_TTL,
    counts_key,
    idempotency_key,
    ip_mark_key,
    minutes_key,
    rebuilding_key,
    voter_mark_key,
)
from service.voting.results import read_counts
from service.voting.wire import fingerprint

if TYPE_CHECKING:
    from service.voting.engine import VoteEngine

# How long a rebuild waits, with the rebuild flag up, for votes that OTHER processes
# counted before the flag: longer than any ledger write may take (engine.LEDGER_BUDGET).
OTHERS_GRACE = LEDGER_BUDGET + 1.0

log = logging.getLogger("civicpoll.counts")

# Only counted and released votes are in the tally; held ones are a number of their own
# (the counts hash's held field), discarded ones are in neither.
TALLIED = "('counted', 'released')"
_LEDGER_COUNTS = f"""
SELECT o.id::text AS option_id, count(v.id) AS votes
FROM poll_options o LEFT JOIN votes v ON v.poll_id = o.poll_id AND o.id = ANY (v.option_ids)
    AND v.state IN {TALLIED}
WHERE o.poll_id = $1
GROUP BY o.id
UNION ALL
SELECT '{HELD_FIELD}', count(*) FROM votes WHERE poll_id = $1 AND state = 'held'
"""


async def ledger_counts(con: Conn | asyncpg.Pool, poll_id: str) -> dict[str, int]:
    """The ledger's counts as Redis keeps them: votes per option, and the held field."""
    rows = await con.fetch(_LEDGER_COUNTS, poll_id)
    return {row["option_id"]: row["votes"] for row in rows}


Settle = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


async def rebuild_poll(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    poll_id: str,
    settle: Settle = _nothing,
    *,
    grace: float = OTHERS_GRACE,
) -> dict[str, int]:
    """Counts, voter marks and recent per-minute buckets of one poll, from the ledger."""
    if not await _restore_poll_marks(pool, redis, poll_id):
        return {}
    counts, _ = await replace_counts(pool, redis, poll_id, settle, grace=grace)
    return counts


async def _restore_poll_marks(pool: asyncpg.Pool, redis: aioredis.Redis, poll_id: str) -> bool:
    mode_row = await pool.fetchrow(
        "SELECT dedupe_mode, dedupe_window_hours FROM polls WHERE id = $1", poll_id
    )
    if mode_row is None:
        return False
    # Marks first, while votes still flow: setting them twice is harmless, and the
    # ledger's whole history is read outside the short pause the counts need.
    await _restore_marks(pool, redis, poll_id, mode_row["dedupe_window_hours"] * 3600)
    return True


async def _restore_marks(
    pool: asyncpg.Pool, redis: aioredis.Redis, poll_id: str, window: int
) -> None:
    async with pool.acquire() as con, con.transaction():
        # Marks: a Redis that lost them must not let anyone vote twice before the ledger
        # would refuse it anyway; restoring them keeps the answer a plain 409.
        cursor = con.cursor(
            "SELECT voter_key, voter_hash, option_ids, ip_hash, ip_key IS NOT NULL AS ip_dedupe,"
            " idempotency_key, extract(epoch FROM cast_at)::bigint AS at"
            " FROM votes WHERE poll_id = $1",
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
                    request = fingerprint([str(o) for o in row["option_ids"]], row["voter_hash"])
                    pipe.set(key, request, ex=IDEMPOTENCY_TTL - age)
                queued += 1
                if queued % 1000 == 0:
                    await pipe.execute()
            await pipe.execute()


async def _agreed(pool: asyncpg.Pool, redis: aioredis.Redis, poll_id: str) -> bool:
    live = await read_counts(redis, poll_id)
    truth = await ledger_counts(pool, poll_id)
    return {k: n for k, n in live.items() if n} == {k: n for k, n in truth.items() if n}


async def settle_elsewhere(
    pool: asyncpg.Pool, redis: aioredis.Redis, poll_ids: list[str], grace: float
) -> None:
    """With the polls' rebuild flags up and this process's votes settled: give the votes
    other processes (workers, instances) had counted before the flag `grace` seconds to
    reach the ledger or be taken back. Their ledger writes are bounded (LEDGER_BUDGET),
    and no vote is decided under the flag, so after the grace ledger and Redis describe
    the same votes. Ends early once every poll's Redis counts equal the ledger's: the
    rule under load, when the only difference was votes in flight."""
    deadline = time.monotonic() + grace
    pending = list(poll_ids)
    pause = 0.02
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if not await _agreed(pool, redis, p)]
        if pending:
            await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.5)


@metrics.running(metrics.REBUILDS_RUNNING)
async def replace_counts(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    poll_id: str,
    settle: Settle = _nothing,
    *,
    only_if_drifted: bool = False,
    grace: float = OTHERS_GRACE,
) -> tuple[dict[str, int], int]:
    """Set the poll's Redis counts (and per-minute buckets) to the ledger's, exactly:
    with the poll's rebuild flag up, vote.lua decides nothing for it; once `settle` (the
    engine's quiesce) returns, every vote this process counted before the flag is in the
    ledger or taken back, and after settle_elsewhere's grace so is every other
    process's, so ledger and Redis describe the same votes. Returns the ledger's counts
    and the drift found (Redis total minus ledger total) before replacing.
    only_if_drifted: leave Redis as it is when it already agrees."""
    flag = rebuilding_key(poll_id)
    await redis.set(flag, 1, ex=REBUILDING_TTL)
    try:
        async with asyncio.timeout(REBUILDING_TTL / 2):
            await settle()
            await settle_elsewhere(pool, redis, [poll_id], grace)
        counts = await ledger_counts(pool, poll_id)
        live = await read_counts(redis, poll_id)
        drift = sum(live.values()) - sum(counts.values())
        if only_if_drifted and {k: n for k, n in live.items() if n} == {
            k: n for k, n in counts.items() if n
        }:
            return counts, 0
        minutes = await pool.fetch(
            "SELECT (extract(epoch FROM cast_at)::bigint / 60)::text AS minute, count(*) AS n"
            f" FROM votes WHERE poll_id = $1 AND state IN {TALLIED}"
            " AND cast_at > now() - interval '6 hours'"
            " GROUP BY 1",
            poll_id,
        )
        async with redis.pipeline(transaction=True) as pipe:
            pipe.delete(counts_key(poll_id), minutes_key(poll_id))
            if counts:
                pipe.hset(counts_key(poll_id), mapping=counts)  # type: ignore[arg-type]
            if minutes:
                pipe.hset(minutes_key(poll_id), mapping={r["minute"]: r["n"] for r in minutes})
            await pipe.execute()
        return counts, drift
    finally:
        await redis.delete(flag)


@metrics.running(metrics.REBUILDS_RUNNING)
async def rebuild_all(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    reason: str,
    settle: Settle = _nothing,
    *,
    grace: float = OTHERS_GRACE,
) -> int:
    poll_ids = [
        r["id"]
        for r in await pool.fetch("SELECT id FROM polls WHERE status <> 'draft' ORDER BY id")
    ]
    for poll_id in poll_ids:
        await _restore_poll_marks(pool, redis, poll_id)
    # Every flag up at once and one grace for all, not one grace per poll; the flags are
    # set again while the polls are replaced one by one, so none lapses on the way.
    raised = time.monotonic()
    await _raise_flags(redis, poll_ids)
    await settle()
    await settle_elsewhere(pool, redis, poll_ids, grace)
    votes = 0
    try:
        for index, poll_id in enumerate(poll_ids):
            if time.monotonic() - raised > REBUILDING_TTL / 3:
                raised = time.monotonic()
                await _raise_flags(redis, poll_ids[index:])
            counts, _ = await replace_counts(pool, redis, poll_id, grace=0)
            votes += sum(counts.values())
    finally:
        if poll_ids:
            await redis.delete(*(rebuilding_key(p) for p in poll_ids))
    metrics.REBUILDS.labels(reason).inc()
    # An empty Redis beside an empty ledger is a first start, not a loss.
    level = logging.WARNING if votes else logging.INFO
    log.log(level, "rebuilt counts of %d poll(s) from the ledger (%s)", len(poll_ids), reason)
    return len(poll_ids)


async def _raise_flags(redis: aioredis.Redis, poll_ids: list[str]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for poll_id in poll_ids:
            pipe.set(rebuilding_key(poll_id), 1, ex=REBUILDING_TTL)
        await pipe.execute()


async def ensure_epoch(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    settle: Settle = _nothing,
    *,
    grace: float = OTHERS_GRACE,
) -> bool:
    """Rebuild everything when Redis no longer holds our epoch mark (on a cluster, one
    mark per primary: any node that restarted empty lost a share of the polls); True if
    it did."""
    marks = await per_node_keys(redis, EPOCH)
    if await redis.exists(*marks) == len(marks):
        return False
    # SET NX: of several processes noticing at once, one rebuilds.
    if not await redis.set(EPOCH_REBUILDING, 1, nx=True, ex=120):
        return False
    try:
        await rebuild_all(pool, redis, "redis_empty", settle, grace=grace)
        for mark in marks:
            await redis.set(mark, int(time.time()))
    finally:
        await redis.delete(EPOCH_REBUILDING)
    return True


async def reconcile(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    suspects: dict[str, int],
    settle: Settle = _nothing,
    *,
    grace: float = OTHERS_GRACE,
) -> dict[str, int]:
    """Compare open polls' Redis totals with the ledger. Under load the two differ by the
    votes in flight, so a drift seen twice in a row (of any size) is checked exactly:
    decide paused for the poll, in-flight votes settled, then compared and repaired."""
    drift: dict[str, int] = {}
    poll_ids = [r["id"] for r in await pool.fetch("SELECT id FROM polls WHERE status = 'open'")]
    for poll_id in poll_ids:
        live = await read_counts(redis, poll_id)
        truth = await ledger_counts(pool, poll_id)
        delta = _tallied(live) - _tallied(truth)
        metrics.COUNT_DRIFT.labels(poll_id).set(delta)
        # A release moves a vote from held to the tally, a discard drops it from held:
        # either leaves one of the two differing from the ledger.
        if not delta and live.get(HELD_FIELD, 0) == truth.get(HELD_FIELD, 0):
            continue
        if poll_id not in suspects:
            log.info("poll %s: Redis total differs from the ledger by %+d", poll_id, delta)
            drift[poll_id] = delta
            continue
        _, exact = await replace_counts(
            pool, redis, poll_id, settle, only_if_drifted=True, grace=grace
        )
        metrics.COUNT_DRIFT.labels(poll_id).set(0)
        if exact:
            log.warning(
                "poll %s: Redis total drifted from the ledger by %+d; repaired", poll_id, exact
            )
            metrics.REBUILDS.labels("drift").inc()
    return drift


def _tallied(counts: dict[str, int]) -> int:
    return sum(n for option, n in counts.items() if option != HELD_FIELD)


async def maintain(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    reconcile_every: float,
    engine: VoteEngine | None = None,
) -> None:
    """Background task: watch for an emptied Redis every 2 s, reconcile now and then, and
    keep the engine's estimate of Redis's clock fresh."""
    suspects: dict[str, int] = {}
    primary = PrimaryWatch(redis)
    last_reconcile = time.monotonic()
    settle = engine.quiesce if engine is not None else _nothing
    while True:
        try:
            if engine is not None:
                await engine.sync_clock()
            await ensure_epoch(pool, redis, settle)
            if await primary.changed():
                # Sentinel moved the primary: what the old one acknowledged last may not
                # have reached the new one (asynchronous replication).
                await rebuild_all(pool, redis, "failover", settle)
            if reconcile_every and time.monotonic() - last_reconcile >= reconcile_every:
                last_reconcile = time.monotonic()
                suspects = await reconcile(pool, redis, suspects, settle)
        except (
            aioredis.RedisError,
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            TimeoutError,
        ) as exc:
            log.warning("count maintenance skipped: %r", exc)
        await asyncio.sleep(2.0)
