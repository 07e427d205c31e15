"""A vote on its way through the engine: its verdict, its budgets, its ledger id."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from service.core.errors import Unavailable
from service.voting.ballot import Ballot

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
class PendingVote:
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


def vote_id(now_ms: int) -> str:
    """A UUIDv7 (RFC 9562) as 32 hex digits: time first, so ledger inserts land at the
    right edge of the primary-key index instead of on a random page. On a ledger of a
    million votes that halves the WAL written per vote (measured: 2.0 → 1.0 KB), since
    each page first touched after a checkpoint is logged whole. Unique, not secret: a fast
    generator is enough for the 74 random bits."""
    rand = _ids.getrandbits(74)
    value = now_ms << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & (1 << 62) - 1)
    return f"{value:032x}"


def unavailable(message: str) -> Unavailable:
    return Unavailable(message, code="unavailable", retry_after=2)


def settled_on_error(
    flush: Callable[[list[PendingVote]], Awaitable[None]],
) -> Callable[[list[PendingVote]], Awaitable[None]]:
    """A stage settles its votes itself, also when a dependency fails; this answers 503
    for any vote a bug left unsettled, so that no voter waits forever on a dead batch."""

    async def guarded(votes: list[PendingVote]) -> None:
        try:
            await flush(votes)
        except Exception:
            log.exception("a batch of %d vote(s) failed unexpectedly", len(votes))
            for vote in votes:
                vote.fail(unavailable("your vote could not be recorded; please try again"))

    return guarded
