"""The vote engine: one Redis round trip decides a batch of votes, then a group commit
writes the accepted ones to the PostgreSQL ledger before anyone hears "accepted".

Two stages, each a Batcher drained by its own task: while the ledger commits batch k,
Redis decides batch k+1. A vote's future is settled by whichever stage finishes it, so a
client that hangs up cannot stop a counted vote half way to the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from service.core.errors import Unavailable
from service.feedback.own_words import OWN_WORDS_INSERT, own_words_args
from service.ops import metrics
from service.voting.ballot import Ballot
from service.voting.batcher import Batcher
from service.voting.clock import RedisClock
from service.voting.keys import (
    HELD_FIELD,
    IDEMPOTENCY_TTL,
    NONCE_MARK_TTL,
    PROOF_MARK_TTL,
    SIGNAL_WINDOW,
)
from service.voting.wire import (
    HELD_SUFFIX,
    HOLD_REASONS,
    LEDGER_INSERT,
    UNDO_DUPLICATE,
    UNDO_FAILED,
    DecideHead,
    LimitsHead,
    decide_args,
    decode_decide_reply,
    fingerprint,
    ledger_batch,
    ledger_record,
    script_keys,
    undo_args,
)

log = logging.getLogger("civicpoll.engine")

# The vote path's Redis budget (README: "503 within about a second"). A vote that waited
# longer than QUEUE_BUDGET for a decide slot (Redis is slow: every slot is stuck) is
# answered 503 at once; a decide call gets DECIDE_TIMEOUT in all (the client's read
# timeout, storage/redis.py, usually ends it first). Redis runs a call only until
# DECIDE_DEADLINE after it was sent, in Redis's own clock, comfortably before the engine
# gives up on it: a call that Redis runs later decides nothing, so a voter told 503 is
# never counted behind their back.
QUEUE_BUDGET = 0.4
DECIDE_TIMEOUT = 0.75
DECIDE_DEADLINE = 0.25
# The ledger stage's budgets: a counted vote waits at most LEDGER_QUEUE_BUDGET for a
# write slot (else it is taken back and answered 503), LEDGER_ACQUIRE for a connection
# and LEDGER_EXECUTE for the whole write (the insert, the voters' own words, and on a
# conflict the look at which rows were kept). Their sum bounds how long a vote Redis
# counted can stay unsettled; a rebuild in another process waits that long
# (counts.OTHERS_GRACE).
LEDGER_QUEUE_BUDGET = 2.0
LEDGER_ACQUIRE = 2.0
LEDGER_EXECUTE = 5.0
LEDGER_BUDGET = LEDGER_QUEUE_BUDGET + LEDGER_ACQUIRE + LEDGER_EXECUTE + DECIDE_TIMEOUT


@dataclass(slots=True)
class Verdict:
    outcome: str
    retry_after_ms: int
    counts: dict[str, int]
    limit: str = ""  # the rate limit a "rate_limited" or "challenge" tripped
    hold_reason: str = ""  # why a "held" vote is held (wire.HOLD_REASONS)


@dataclass(slots=True)
class _Vote:
    ballot: Ballot
    future: asyncio.Future[Verdict]
    queued_at: float
    seq: int = 0  # the decide call that counted it (see VoteEngine.quiesce)
    counted_at: float = 0.0  # when Redis's verdict came back (monotonic)
    vote_id: str = ""
    minute: str = ""
    hold_reason: str = ""  # set: written to the ledger as held
    verdict: Verdict | None = None

    def settle(self, verdict: Verdict) -> None:
        if not self.future.done():  # the waiter may have been cancelled
            self.future.set_result(verdict)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


_ids = random.Random()  # noqa: S311 -- ids must be unique, not unguessable; seeded from os.urandom
# A forked worker must not repeat its parent's ids: the ledger would take them for replays.
os.register_at_fork(after_in_child=_ids.seed)


def _vote_id(now_ms: int) -> str:
    """A UUIDv7 (RFC 9562) as 32 hex digits: time first, so ledger inserts land at the
    right edge of the primary-key index instead of on a random page. On a ledger of a
    million votes that halves the WAL written per vote (measured: 2.0 → 1.0 KB), since
    each page first touched after a checkpoint is logged whole. Unique, not secret: a fast
    generator is enough for the 74 random bits."""
    rand = _ids.getrandbits(74)
    value = now_ms << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & (1 << 62) - 1)
    return f"{value:032x}"


def _script(name: str) -> str:
    return resources.files("service.voting").joinpath(name).read_text(encoding="utf-8")


def _unavailable(message: str) -> Unavailable:
    return Unavailable(message, code="unavailable", retry_after=2)


def _decide_head(first: Ballot) -> DecideHead:
    """The decide call's limits: the site's rates as GCRA figures, the poll's mark ttls
    (every ballot of one call is for the same poll)."""
    site = first.poll.site
    # At least 1 ms: a rate above 60,000 a minute (a site stored before the admin API
    # capped it) would otherwise make the interval 0 and turn the limit off.
    ip_interval = max(1, 60_000 // site.rate_per_ip_per_minute)
    net_interval = max(1, 60_000 // site.rate_per_network_per_minute)
    return DecideHead(
        ip_interval,
        # GCRA tolerance for a burst of B: B - 1 more requests may come at once.
        ip_interval * (site.burst_per_ip - 1),
        net_interval,
        net_interval * (site.burst_per_network - 1),
        first.voter_mark_ttl,
        first.ip_mark_ttl,
        IDEMPOTENCY_TTL,
        NONCE_MARK_TTL,
    )


def _limits_head(first: Ballot) -> LimitsHead:
    """The decide call's fair-limit figures, from the poll's site's Limits."""
    limits = first.poll.site.limits
    interval = max(1, 60_000 // limits.solved_per_ip_per_minute)
    return LimitsHead(
        interval,
        interval * (limits.solved_burst_per_ip - 1),
        PROOF_MARK_TTL,
        SIGNAL_WINDOW,
        1 if limits.hold_tokenless else 0,
        limits.tokened_min_votes,
        limits.flood_share_percent,
        limits.flood_min_votes,
        limits.regular_min_votes,
        limits.regular_jitter_percent,
        limits.skew_points,
    )


def _settled_on_error(
    flush: Callable[[list[_Vote]], Awaitable[None]],
) -> Callable[[list[_Vote]], Awaitable[None]]:
    """A stage settles its votes itself, also when a dependency fails; this answers 503
    for any vote a bug left unsettled, so that no voter waits forever on a dead batch."""

    async def guarded(votes: list[_Vote]) -> None:
        try:
            await flush(votes)
        except Exception:
            log.exception("a batch of %d vote(s) failed unexpectedly", len(votes))
            for vote in votes:
                vote.fail(_unavailable("your vote could not be recorded; please try again"))

    return guarded


class VoteEngine:
    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        *,
        batch_max: int = 16,
        ledger_linger: float = 0.0,
        decide_concurrency: int = 4,
        ledger_concurrency: int = 4,
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._vote_script = redis.register_script(_script("vote.lua"))
        self._undo_script = redis.register_script(_script("undo.lua"))
        self._decider: Batcher[_Vote] = Batcher(
            "decide",
            _settled_on_error(self._decide),
            max_items=batch_max,
            concurrency=decide_concurrency,
        )
        self._ledger: Batcher[_Vote] = Batcher(
            "ledger",
            _settled_on_error(self._write),
            max_items=batch_max,
            linger=ledger_linger,
            concurrency=ledger_concurrency,
        )
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.clock = RedisClock(redis)
        # Decide calls not yet settled, by sequence number -> open units (the call itself,
        # then each vote it counted until the ledger settles it). Insertion order is
        # sequence order, so the first key is the oldest open call.
        self._seq = 0
        self._open: dict[int, int] = {}
        self._closed = asyncio.Event()

    def start(self) -> None:
        self._decider.start()
        self._ledger.start()
        self._spawn(self._first_clock_sync())

    async def sync_clock(self) -> None:
        await self.clock.sync()

    async def _first_clock_sync(self) -> None:
        try:
            await self.sync_clock()
        except (aioredis.RedisError, OSError) as exc:
            log.warning("could not read Redis's clock (the count maintenance retries): %r", exc)

    async def quiesce(self) -> None:
        """Wait until every decide call sent so far is settled, ledger writes included:
        with a poll's rebuild flag set, the ledger then holds each vote Redis counted."""
        mark = self._seq
        while self._open and next(iter(self._open)) <= mark:
            self._closed.clear()
            await self._closed.wait()

    def _release(self, seq: int) -> None:
        left = self._open[seq] - 1
        if left:
            self._open[seq] = left
        else:
            del self._open[seq]
            self._closed.set()

    async def stop(self) -> None:
        await self._decider.stop()
        await self._ledger.stop()
        await asyncio.gather(*self._side_tasks, return_exceptions=True)

    def cast(self, ballot: Ballot) -> asyncio.Future[Verdict]:
        """The verdict to await. A plain function handing out the future itself: one
        coroutine frame less for every vote's answer to resume through."""
        if not self._decider.running:
            raise _unavailable("the service is shutting down; please try again")
        vote = _Vote(ballot, asyncio.get_running_loop().create_future(), time.monotonic())
        self._decider.put(vote)
        return vote.future

    # ------------------------------------------------------------ Redis stage

    async def _decide(self, votes: list[_Vote]) -> None:
        self._seq += 1
        seq = self._seq
        self._open[seq] = 1
        try:
            await self._decide_call(seq, votes)
        finally:
            self._release(seq)

    async def _decide_call(self, seq: int, votes: list[_Vote]) -> None:
        stale_before = time.monotonic() - QUEUE_BUDGET
        if votes[0].queued_at < stale_before:  # arrival order: the first is the oldest
            waited = [v for v in votes if v.queued_at < stale_before]
            votes = votes[len(waited) :]
            metrics.DECIDE_REFUSALS.labels("queue_budget").inc(len(waited))
            for vote in waited:
                vote.fail(_unavailable("the vote service is busy; please try again"))
            if not votes:
                return
        by_poll: dict[str, list[_Vote]] = {}
        for vote in votes:
            by_poll.setdefault(vote.ballot.poll.id, []).append(vote)
        deadline = int(self.clock.now_ms() + DECIDE_DEADLINE * 1000)
        calls = [
            self._vote_script(
                keys=script_keys(poll_id),
                args=decide_args(
                    poll_id,
                    _decide_head(group[0].ballot),
                    [v.ballot for v in group],
                    deadline,
                    _limits_head(group[0].ballot),
                ),
            )
            for poll_id, group in by_poll.items()
        ]
        try:
            # One EVALSHA per poll, side by side (not a pipeline: redis-py's pipeline
            # asks SCRIPT EXISTS before every execution, a second round trip). One poll
            # is the rule under load, and needs no gather (a task per call).
            async with asyncio.timeout(DECIDE_TIMEOUT):
                replies = [await calls[0]] if len(calls) == 1 else await asyncio.gather(*calls)
        except (aioredis.RedisError, OSError, TimeoutError) as exc:
            metrics.DEPENDENCY_ERRORS.labels("redis").inc()
            log.warning("redis unavailable while deciding %d vote(s): %r", len(votes), exc)
            for vote in votes:
                vote.fail(_unavailable("the vote service is busy; please try again"))
            return
        metrics.DECIDE_BATCH.observe(len(votes))
        now_ms = time.time_ns() // 1_000_000
        counted_at = time.monotonic()
        for group, reply in zip(by_poll.values(), replies, strict=True):
            minute, verdicts, counts = decode_decide_reply(reply, len(group))
            for vote, (outcome, detail, limit) in zip(group, verdicts, strict=True):
                verdict = Verdict(outcome, detail, counts, limit)
                if outcome in ("accepted", "held"):
                    if outcome == "held":
                        vote.hold_reason = verdict.hold_reason = HOLD_REASONS[detail]
                    vote.minute, vote.verdict, vote.seq = minute, verdict, seq
                    vote.vote_id = _vote_id(now_ms)
                    vote.counted_at = counted_at
                    self._open[seq] += 1
                    self._ledger.put(vote)
                elif outcome == "replayed":
                    self._spawn(self._confirm_replay(vote, verdict))
                elif outcome in ("expired", "rebuilding"):
                    metrics.DECIDE_REFUSALS.labels(outcome).inc()
                    vote.fail(_unavailable("the vote service is busy; please try again"))
                else:
                    vote.settle(verdict)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _confirm_replay(self, vote: _Vote, verdict: Verdict) -> None:
        """Answer a replay "accepted" only once the first attempt is in the ledger."""
        try:
            found = await self._pool.fetchrow(
                "SELECT option_ids, voter_hash FROM votes"
                " WHERE poll_id = $1 AND idempotency_key = $2",
                vote.ballot.poll.id,
                vote.ballot.idempotency_key,
                timeout=5,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            found = None
        if found is not None and not _same_request(found, vote.ballot):
            vote.settle(Verdict("idempotency_key_reused", 0, verdict.counts))
        elif found is None:
            vote.fail(
                Unavailable(
                    "your earlier attempt is still being recorded; please retry",
                    code="unavailable",
                    retry_after=1,
                )
            )
        else:
            vote.settle(verdict)

    async def _undo(self, votes: list[_Vote], reason: str) -> None:
        by_poll: dict[tuple[str, str, str], list[_Vote]] = {}
        for vote in votes:
            # A held vote is taken back from the held field, not from the counts.
            why = reason + HELD_SUFFIX if vote.hold_reason else reason
            by_poll.setdefault((vote.ballot.poll.id, vote.minute, why), []).append(vote)
        for (poll_id, minute, why), group in by_poll.items():
            try:
                await self._undo_script(
                    keys=script_keys(poll_id),
                    args=undo_args(poll_id, minute, [v.ballot for v in group], why),
                )
            except (aioredis.RedisError, OSError):
                # The reconciler sees the drift against the ledger and repairs it.
                metrics.COMPENSATION_FAILURES.inc(len(group))
                log.error("could not take back %d vote(s) of poll %s in Redis", len(group), poll_id)

    # ------------------------------------------------------------ ledger stage

    async def _write(self, votes: list[_Vote]) -> None:
        try:
            await self._write_batch(votes)
        finally:
            for vote in votes:
                self._release(vote.seq)

    async def _write_batch(self, votes: list[_Vote]) -> None:
        stale_before = time.monotonic() - LEDGER_QUEUE_BUDGET
        if votes[0].counted_at < stale_before:  # arrival order: the first is the oldest
            waited = [v for v in votes if v.counted_at < stale_before]
            votes = votes[len(waited) :]
            metrics.DEPENDENCY_ERRORS.labels("postgres").inc()
            log.warning("%d vote(s) waited too long for the ledger; taking them back", len(waited))
            await self._undo(waited, UNDO_FAILED)
            for vote in waited:
                vote.fail(_unavailable("your vote could not be recorded; please try again"))
            if not votes:
                return
        records = ledger_batch([ledger_record(v.vote_id, v.ballot, v.hold_reason) for v in votes])
        started = time.perf_counter()
        try:
            # asyncio.timeout rather than acquire(timeout=): that one wraps the wait in
            # a task of its own, on every batch.
            async with asyncio.timeout(LEDGER_ACQUIRE):
                con = await self._pool.acquire()
            try:
                # One deadline for the whole write, whatever its statements: it bounds how
                # long a counted vote may stay unsettled (LEDGER_BUDGET).
                async with asyncio.timeout(LEDGER_EXECUTE):
                    with_text = [(v.vote_id, v.ballot) for v in votes if v.ballot.other_text]
                    if with_text:
                        # The votes and their voters' own words commit together, or neither.
                        async with con.transaction():
                            status = await con.execute(
                                LEDGER_INSERT, records, timeout=LEDGER_EXECUTE
                            )
                            await con.execute(
                                OWN_WORDS_INSERT, *own_words_args(with_text), timeout=LEDGER_EXECUTE
                            )
                    else:
                        status = await con.execute(LEDGER_INSERT, records, timeout=LEDGER_EXECUTE)
                    refused: list[_Vote] = []
                    replayed: dict[int, bool] = {}
                    # "INSERT 0 <rows>": all rows in is the rule; only a conflict needs to
                    # know which (ids are fresh, so a missing id is a refused vote).
                    if int(status.rpartition(" ")[2]) != len(votes):
                        kept = {
                            row[0]
                            for row in await con.fetch(
                                "SELECT replace(id::text, '-', '') FROM votes"
                                " WHERE id = ANY($1::uuid[])",
                                [vote.vote_id for vote in votes],
                                timeout=5,
                            )
                        }
                        refused = [v for v in votes if v.vote_id not in kept]
                        replayed = await self._known_idempotency_keys(con, refused)
            finally:
                await self._pool.release(con)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            metrics.DEPENDENCY_ERRORS.labels("postgres").inc()
            log.warning("ledger write of %d vote(s) failed, taking them back: %r", len(votes), exc)
            await self._undo(votes, UNDO_FAILED)
            for vote in votes:
                vote.fail(_unavailable("your vote could not be recorded; please try again"))
            return
        metrics.LEDGER_BATCH.observe(len(votes))
        metrics.LEDGER_SECONDS.observe(time.perf_counter() - started)
        if refused:
            # Redis had lost these voters' marks (or idempotency keys); the ledger had not.
            # A key reused for another request is no vote of this voter's: forget its marks.
            reused = [v for v in refused if replayed.get(id(v)) is False]
            if reused:
                await self._undo(reused, UNDO_FAILED)
            if len(reused) < len(refused):
                await self._undo([v for v in refused if v not in reused], UNDO_DUPLICATE)
            for vote in refused:
                assert vote.verdict is not None
                taken = (HELD_FIELD,) if vote.hold_reason else vote.ballot.choices
                for option in taken:
                    vote.verdict.counts[option] = vote.verdict.counts.get(option, 1) - 1
                same = replayed.get(id(vote))
                vote.verdict.outcome = (
                    "duplicate"
                    if same is None
                    else "replayed"
                    if same
                    else "idempotency_key_reused"
                )
        for vote in votes:
            assert vote.verdict is not None
            vote.settle(vote.verdict)

    @staticmethod
    async def _known_idempotency_keys(con: Any, votes: list[_Vote]) -> dict[int, bool]:
        """Of refused votes, those whose idempotency key the ledger holds (by id(vote)):
        True when the ledger's row is this very request, False when the key was reused."""
        keyed = [v for v in votes if v.ballot.idempotency_key]
        if not keyed:
            return {}
        found = {
            (row["poll_id"], row["idempotency_key"]): row
            for row in await con.fetch(
                "SELECT poll_id, idempotency_key, option_ids, voter_hash FROM votes"
                " WHERE poll_id = ANY($1::text[]) AND idempotency_key = ANY($2::text[])",
                list({v.ballot.poll.id for v in keyed}),
                [v.ballot.idempotency_key for v in keyed],
            )
        }
        known: dict[int, bool] = {}
        for vote in keyed:
            row = found.get((vote.ballot.poll.id, vote.ballot.idempotency_key))
            if row is not None:
                known[id(vote)] = _same_request(row, vote.ballot)
        return known


def _same_request(row: Any, ballot: Ballot) -> bool:
    """Does the ledger's row (option_ids, voter_hash) record this very request?"""
    stored = fingerprint([str(option) for option in row["option_ids"]], row["voter_hash"])
    return stored == fingerprint(ballot.choices, ballot.voter_hash)
