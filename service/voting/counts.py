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
    NONCE_MARK_TTL,
    PROOF_MARK_TTL,
    REBUILDING_TTL,
    VOTER_MARK_TTL,
    counts_key,
    idempotency_key,
    ip_mark_key,
    minutes_key,
    nonce_mark_key,
    proof_mark_key,
    rebuilding_key,
    stats_key,
    voter_mark_key,
)
from service.voting.results import as_text, read_counts
from service.voting.tallies import (
    TALLIED,
    Tallies,
    ledger_figures,
    ledger_minutes,
    ledger_tallies,
    ledger_tallies_since,
)
from service.voting.wire import fingerprint

if TYPE_CHECKING:
    from service.voting.engine import VoteEngine

# How long a rebuild waits, with the rebuild flag up, for votes that OTHER processes
# counted before the flag: longer than any ledger write may take (engine.LEDGER_BUDGET).
OTHERS_GRACE = LEDGER_BUDGET + 1.0

log = logging.getLogger("civicpoll.counts")

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
    """Counts, marks, recent per-minute buckets and the ledger's integrity figures of one
    poll, from the ledger."""
    if not await _restore_poll_marks(pool, redis, poll_id):
        return {}
    return (await _rebuild(pool, redis, [poll_id], settle, grace=grace))[poll_id]


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
            " idempotency_key, proof_key, token_nonce, extract(epoch FROM cast_at)::bigint AS at"
            " FROM votes WHERE poll_id = $1",
            poll_id,
            # Rows a round trip: asyncpg's default of 50 made restoring 60k votes' marks
            # 1,200 round trips on a loop that also serves votes.
            prefetch=2000,
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
                # A spent proof and a used widget token stay spent.
                proof, nonce = row["proof_key"], row["token_nonce"]
                if proof and age < PROOF_MARK_TTL:
                    pipe.set(proof_mark_key(poll_id, proof), 1, ex=PROOF_MARK_TTL - age)
                if nonce and age < NONCE_MARK_TTL:
                    pipe.set(nonce_mark_key(poll_id, nonce), 1, ex=NONCE_MARK_TTL - age)
                queued += 1
                if queued % 1000 == 0:
                    await pipe.execute()
            await pipe.execute()


async def _agreed(pool: asyncpg.Pool, redis: aioredis.Redis, poll_id: str) -> bool:
    live = await read_counts(redis, poll_id)
    truth = await ledger_counts(pool, poll_id)
    return {k: n for k, n in live.items() if n} == {k: n for k, n in truth.items() if n}


async def _unsettled_since(
    pool: asyncpg.Pool, redis: aioredis.Redis, poll_ids: list[str]
) -> list[str]:
    """Of polls in a Redis that lost its memory, those whose votes this Redis decided are
    not all settled yet: their counts here differ from the ledger's votes decided since
    this Redis first decided one of the poll's (vote.lua's `since`)."""
    async with redis.pipeline(transaction=False) as pipe:
        for poll_id in poll_ids:
            pipe.hgetall(counts_key(poll_id))
            pipe.hget(stats_key(poll_id), "since")
        replies = await pipe.execute()
    live = {
        p: {as_text(k): int(v) for k, v in c.items()}
        for p, c in zip(poll_ids, replies[::2], strict=True)
    }
    since = {p: int(s) for p, s in zip(poll_ids, replies[1::2], strict=True) if s is not None}
    truth = await ledger_tallies_since(pool, since) if since else {}
    return [p for p in poll_ids if _nonzero(live[p]) != _nonzero(truth.get(p, {}))]


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: n for k, n in counts.items() if n}


async def settle_elsewhere(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    poll_ids: list[str],
    grace: float,
    *,
    emptied: bool = False,
) -> None:
    """With the polls' rebuild flags up and this process's votes settled: give the votes
    other processes (workers, instances) had counted before the flag `grace` seconds to
    reach the ledger or be taken back. Their ledger writes are bounded (LEDGER_BUDGET),
    and no vote is decided under the flag, so after the grace ledger and Redis describe
    the same votes. Ends early once every poll's Redis counts equal the ledger's: the
    rule under load, when the only difference was votes in flight.

    emptied: Redis lost its memory, so its counts hold only the votes it decided since,
    and can never equal the whole ledger (waiting for that made every rebuild after a
    Redis restart pause voting for the whole grace, ~11 s). They are compared with the
    ledger's votes decided since instead, told by their ids (the time Redis decided
    them). Votes the old Redis decided and whose ledger write ends after the rebuild read
    the ledger are the one thing this does not wait for; the reconciler repairs those."""
    deadline = time.monotonic() + grace
    pending = list(poll_ids)
    pause = 0.02
    while pending and time.monotonic() < deadline:
        if emptied:
            pending = await _unsettled_since(pool, redis, pending)
        else:
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
        if only_if_drifted and _nonzero(live) == _nonzero(counts):
            return counts, 0
        minutes = await ledger_minutes(pool, [poll_id])
        await _write_poll(redis, poll_id, counts, minutes[poll_id])
        return counts, drift
    finally:
        await redis.delete(flag)


async def _write_poll(
    redis: aioredis.Redis,
    poll_id: str,
    counts: dict[str, int],
    minutes: dict[str, int],
    figures: dict[str, int] | None = None,
) -> None:
    """One poll's counts and buckets replaced (and the ledger's figures set), in one
    MULTI that also lowers the poll's rebuild flag: readers see the old counts or the new,
    and votes resume the moment the new ones are in."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(counts_key(poll_id), minutes_key(poll_id))
        if counts:
            pipe.hset(counts_key(poll_id), mapping=counts)  # type: ignore[arg-type]
        if minutes:
            pipe.hset(minutes_key(poll_id), mapping=minutes)  # type: ignore[arg-type]
        if figures:
            pipe.hset(stats_key(poll_id), mapping=figures)  # type: ignore[arg-type]
        pipe.delete(rebuilding_key(poll_id))
        await pipe.execute()


WRITERS = 16  # polls written side by side at the end of a rebuild


async def _rebuild(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    poll_ids: list[str],
    settle: Settle,
    *,
    grace: float,
    emptied: bool = False,
) -> Tallies:
    """Counts, buckets and ledger figures of the polls, from the ledger: every flag up at
    once and one grace for all; then one aggregate query each for all the polls (not a
    round per poll: measured, 20 polls and 60k votes took 2.0 s one by one), and each
    poll's flag lowered as its counts are written."""
    raised = time.monotonic()
    await _raise_flags(redis, poll_ids)
    try:
        async with asyncio.timeout(REBUILDING_TTL / 2):
            await settle()
            await settle_elsewhere(pool, redis, poll_ids, grace, emptied=emptied)
        async with pool.acquire() as con:
            counts = await ledger_tallies(con, poll_ids)
            minutes = await ledger_minutes(con, poll_ids)
            figures = await ledger_figures(con, poll_ids)
        if time.monotonic() - raised > REBUILDING_TTL / 3:
            await _raise_flags(redis, poll_ids)  # none lapses before it is written
        gate = asyncio.Semaphore(WRITERS)

        async def write(poll_id: str) -> None:
            async with gate:
                await _write_poll(
                    redis, poll_id, counts[poll_id], minutes[poll_id], figures[poll_id]
                )

        await asyncio.gather(*(write(poll_id) for poll_id in poll_ids))
        return counts
    finally:
        await redis.delete(*(rebuilding_key(p) for p in poll_ids))


@metrics.running(metrics.REBUILDS_RUNNING)
async def rebuild_all(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    reason: str,
    settle: Settle = _nothing,
    *,
    grace: float = OTHERS_GRACE,
    emptied: bool = False,
) -> int:
    """rebuild_poll for every poll but drafts; emptied: Redis lost its memory (see
    settle_elsewhere)."""
    poll_ids = [
        r["id"]
        for r in await pool.fetch("SELECT id FROM polls WHERE status <> 'draft' ORDER BY id")
    ]
    for poll_id in poll_ids:
        await _restore_poll_marks(pool, redis, poll_id)
    tallies: Tallies = {}
    if poll_ids:
        tallies = await _rebuild(pool, redis, poll_ids, settle, grace=grace, emptied=emptied)
    votes = sum(n for counts in tallies.values() for n in counts.values())
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
        await rebuild_all(pool, redis, "redis_empty", settle, grace=grace, emptied=True)
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
