"""The ledger stage: a group commit of counted votes to PostgreSQL, before anyone hears
"accepted"; a vote the ledger refuses is a duplicate or a replay, a failed write is undone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from service.feedback.own_words import OWN_WORDS_INSERT, own_words_args
from service.ops import metrics
from service.voting.ballot import Ballot
from service.voting.keys import HELD_FIELD
from service.voting.pending import (
    LEDGER_ACQUIRE,
    LEDGER_EXECUTE,
    LEDGER_QUEUE_BUDGET,
    PendingVote,
    log,
    unavailable,
)
from service.voting.wire import (
    LEDGER_INSERT,
    UNDO_DUPLICATE,
    UNDO_FAILED,
    fingerprint,
    ledger_batch,
    ledger_record,
)

# Takes votes back in Redis (with the reason, wire.UNDO_*): the engine's Redis stage.
Undo = Callable[[list[PendingVote], str], Awaitable[None]]


async def write_batch(pool: asyncpg.Pool, votes: list[PendingVote], undo: Undo) -> None:
    """Commit counted votes to the ledger (with their own words) and settle each: a vote
    the ledger refused is a duplicate or a replay; a failed write is taken back (`undo`)."""
    stale_before = time.monotonic() - LEDGER_QUEUE_BUDGET
    if votes[0].counted_at < stale_before:  # arrival order: the first is the oldest
        waited = [v for v in votes if v.counted_at < stale_before]
        votes = votes[len(waited) :]
        metrics.DEPENDENCY_ERRORS.labels("postgres").inc()
        log.warning("%d vote(s) waited too long for the ledger; taking them back", len(waited))
        await undo(waited, UNDO_FAILED)
        for vote in waited:
            vote.fail(unavailable("your vote could not be recorded; please try again"))
        if not votes:
            return
    records = ledger_batch([ledger_record(v.vote_id, v.ballot, v.hold_reason) for v in votes])
    started = time.perf_counter()
    try:
        # asyncio.timeout rather than acquire(timeout=): that one wraps the wait in
        # a task of its own, on every batch.
        async with asyncio.timeout(LEDGER_ACQUIRE):
            con = await pool.acquire()
        try:
            # One deadline for the whole write, whatever its statements: it bounds how
            # long a counted vote may stay unsettled (LEDGER_BUDGET).
            async with asyncio.timeout(LEDGER_EXECUTE):
                with_text = [(v.vote_id, v.ballot) for v in votes if v.ballot.other_text]
                if with_text:
                    # The votes and their voters' own words commit together, or neither.
                    async with con.transaction():
                        status = await con.execute(LEDGER_INSERT, records, timeout=LEDGER_EXECUTE)
                        await con.execute(
                            OWN_WORDS_INSERT,
                            *await own_words_args(con, with_text),
                            timeout=LEDGER_EXECUTE,
                        )
                else:
                    status = await con.execute(LEDGER_INSERT, records, timeout=LEDGER_EXECUTE)
                refused: list[PendingVote] = []
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
                    replayed = await _known_idempotency_keys(con, refused)
        finally:
            await pool.release(con)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        metrics.DEPENDENCY_ERRORS.labels("postgres").inc()
        log.warning("ledger write of %d vote(s) failed, taking them back: %r", len(votes), exc)
        await undo(votes, UNDO_FAILED)
        for vote in votes:
            vote.fail(unavailable("your vote could not be recorded; please try again"))
        return
    metrics.LEDGER_BATCH.observe(len(votes))
    metrics.LEDGER_SECONDS.observe(time.perf_counter() - started)
    if refused:
        # Redis had lost these voters' marks (or idempotency keys); the ledger had not.
        # A key reused for another request is no vote of this voter's: forget its marks.
        reused = [v for v in refused if replayed.get(id(v)) is False]
        if reused:
            await undo(reused, UNDO_FAILED)
        if len(reused) < len(refused):
            await undo([v for v in refused if v not in reused], UNDO_DUPLICATE)
        for vote in refused:
            assert vote.verdict is not None
            taken = (HELD_FIELD,) if vote.hold_reason else vote.ballot.choices
            for option in taken:
                vote.verdict.counts[option] = vote.verdict.counts.get(option, 1) - 1
            same = replayed.get(id(vote))
            vote.verdict.outcome = (
                "duplicate" if same is None else "replayed" if same else "idempotency_key_reused"
            )
    for vote in votes:
        assert vote.verdict is not None
        vote.settle(vote.verdict)


async def _known_idempotency_keys(con: Any, votes: list[PendingVote]) -> dict[int, bool]:
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
            known[id(vote)] = same_request(row, vote.ballot)
    return known


def same_request(row: Any, ballot: Ballot) -> bool:
    """Does the ledger's row (option_ids, voter_hash) record this very request?"""
    stored = fingerprint([str(option) for option in row["option_ids"]], row["voter_hash"])
    return stored == fingerprint(ballot.choices, ballot.voter_hash)
