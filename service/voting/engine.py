"""The vote engine: one Redis round trip decides a batch of votes, then a group commit
writes the accepted ones to the PostgreSQL ledger before anyone hears "accepted".

Two stages, each a Batcher drained by its own task: while the ledger commits batch k,
Redis decides batch k+1. A vote's future is settled by whichever stage finishes it, so a
client that hangs up cannot stop a counted vote half way to the ledger.
"""

from __future__ import annotations

import asyncio
import time
from importlib import resources
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from service.core.errors import Unavailable
from service.ops import metrics
from service.voting.ballot import Ballot
from service.voting.batcher import Batcher
from service.voting.clock import RedisClock
from service.voting.keys import IDEMPOTENCY_TTL, NONCE_MARK_TTL, PROOF_MARK_TTL, SIGNAL_WINDOW
from service.voting.ledger import same_request, write_batch
from service.voting.pending import (
    DECIDE_DEADLINE,
    DECIDE_TIMEOUT,
    LEDGER_BUDGET,
    QUEUE_BUDGET,
    PendingVote,
    Verdict,
    log,
    settled_on_error,
    unavailable,
    vote_id,
)
from service.voting.wire import (
    HELD_SUFFIX,
    HOLD_REASONS,
    DecideHead,
    LimitsHead,
    decide_args,
    decode_decide_reply,
    script_keys,
    undo_args,
)

# LEDGER_BUDGET: voting/counts.py waits that long for another process's votes.
__all__ = ["LEDGER_BUDGET", "Verdict", "VoteEngine"]


def _script(name: str) -> str:
    return resources.files("service.voting").joinpath(name).read_text(encoding="utf-8")


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
        self._decider: Batcher[PendingVote] = Batcher(
            "decide",
            settled_on_error(self._decide),
            max_items=batch_max,
            concurrency=decide_concurrency,
        )
        self._ledger: Batcher[PendingVote] = Batcher(
            "ledger",
            settled_on_error(self._write),
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
            raise unavailable("the service is shutting down; please try again")
        vote = PendingVote(ballot, asyncio.get_running_loop().create_future(), time.monotonic())
        self._decider.put(vote)
        return vote.future

    # ------------------------------------------------------------ Redis stage

    async def _decide(self, votes: list[PendingVote]) -> None:
        self._seq += 1
        seq = self._seq
        self._open[seq] = 1
        try:
            await self._decide_call(seq, votes)
        finally:
            self._release(seq)

    async def _decide_call(self, seq: int, votes: list[PendingVote]) -> None:
        stale_before = time.monotonic() - QUEUE_BUDGET
        if votes[0].queued_at < stale_before:  # arrival order: the first is the oldest
            waited = [v for v in votes if v.queued_at < stale_before]
            votes = votes[len(waited) :]
            metrics.DECIDE_REFUSALS.labels("queue_budget").inc(len(waited))
            for vote in waited:
                vote.fail(unavailable("the vote service is busy; please try again"))
            if not votes:
                return
        by_poll: dict[str, list[PendingVote]] = {}
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
                vote.fail(unavailable("the vote service is busy; please try again"))
            return
        metrics.DECIDE_BATCH.observe(len(votes))
        counted_at = time.monotonic()
        for group, reply in zip(by_poll.values(), replies, strict=True):
            # Ids in Redis's time of decision: a rebuild tells this Redis's votes by them.
            minute, now_ms, verdicts, counts = decode_decide_reply(reply, len(group))
            for vote, (outcome, detail, limit, spent) in zip(group, verdicts, strict=True):
                verdict = Verdict(outcome, detail, counts, limit)
                if not spent:
                    # From here on a ballot's proof is the one it spent: the ledger keeps
                    # that (one vote per proof) and an undo gives only that back.
                    vote.ballot.proof = None
                if outcome in ("accepted", "held"):
                    if outcome == "held":
                        vote.hold_reason = verdict.hold_reason = HOLD_REASONS[detail]
                    vote.minute, vote.verdict, vote.seq = minute, verdict, seq
                    vote.vote_id = vote_id(now_ms)
                    vote.counted_at = counted_at
                    self._open[seq] += 1
                    self._ledger.put(vote)
                elif outcome == "replayed":
                    self._spawn(self._confirm_replay(vote, verdict))
                elif outcome in ("expired", "rebuilding"):
                    metrics.DECIDE_REFUSALS.labels(outcome).inc()
                    vote.fail(unavailable("the vote service is busy; please try again"))
                else:
                    vote.settle(verdict)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _confirm_replay(self, vote: PendingVote, verdict: Verdict) -> None:
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
        if found is not None and not same_request(found, vote.ballot):
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

    async def _undo(self, votes: list[PendingVote], reason: str) -> None:
        by_poll: dict[tuple[str, str, str], list[PendingVote]] = {}
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

    async def _write(self, votes: list[PendingVote]) -> None:
        try:
            await write_batch(self._pool, votes, self._undo)
        finally:
            for vote in votes:
                self._release(vote.seq)
