"""The vote engine: one Redis round trip decides a batch of votes, then a group commit
writes the accepted ones to the PostgreSQL ledger before anyone hears "accepted"."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from service import metrics
from service.batcher import Batcher
from service.errors import Unavailable
from service.keys import counts_key, minutes_key, poll_prefix, stats_key
from service.polls import Poll

log = logging.getLogger("civicpoll.engine")

OUTCOMES = {1: "accepted", 2: "duplicate", 3: "rate_limited", 4: "replayed", 5: "token_reused"}
IDEMPOTENCY_TTL = 24 * 3600
TOKEN_TTL = 7 * 3600  # longer than a widget token lives, so a nonce cannot be reused
VOTER_MARK_TTL = 400 * 24 * 3600
RETRY_AFTER_UNAVAILABLE = "2"


@dataclass(slots=True)
class Ballot:
    """One vote as the engine needs it: already validated, identities already hashed."""

    poll: Poll
    choices: tuple[str, ...]
    voter_hash: str | None
    ip_hash: str
    network_hash: str
    voter_key: str | None  # ledger de-duplication keys (None: mode does not dedupe on it)
    ip_key: str | None
    voter_mark_ttl: int  # Redis mark lifetimes, 0 = no check
    ip_mark_ttl: int
    rate: tuple[int, int, int, int]  # ip interval, ip tolerance, net interval, net tolerance (ms)
    idempotency_key: str | None = None
    token_nonce: str | None = None
    page_url: str | None = None
    user_agent: str | None = None
    vote_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(slots=True)
class Verdict:
    outcome: str
    retry_after_ms: int
    counts: dict[str, int]
    minute: str = ""


def _vote_keys(ballot: Ballot) -> tuple[str, str, str, str, str, str]:
    prefix = poll_prefix(ballot.poll.id)
    unused = prefix + "_"
    return (
        prefix + "v:" + ballot.voter_hash
        if ballot.voter_mark_ttl and ballot.voter_hash
        else unused,
        prefix + "i:" + ballot.ip_hash if ballot.ip_mark_ttl else unused,
        prefix + "ri:" + ballot.ip_hash,
        prefix + "rn:" + ballot.network_hash,
        prefix + "k:" + ballot.idempotency_key if ballot.idempotency_key else unused,
        prefix + "t:" + ballot.token_nonce if ballot.token_nonce else unused,
    )


def _script(name: str) -> str:
    return resources.files("service").joinpath(name).read_text(encoding="utf-8")


_INSERT = """
INSERT INTO votes (id, poll_id, option_ids, voter_hash, ip_hash, network_hash, voter_key,
                   ip_key, idempotency_key, page_url, user_agent)
SELECT v.id, v.poll_id, string_to_array(v.choices, ',')::bigint[], v.voter_hash, v.ip_hash,
       v.network_hash, v.voter_key, v.ip_key, v.idem, v.page_url, v.user_agent
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
     AS v(id, poll_id, choices, voter_hash, ip_hash, network_hash, voter_key, ip_key, idem,
          page_url, user_agent)
ON CONFLICT DO NOTHING
RETURNING id
"""

KEPT, DUPLICATE, REPLAYED = "kept", "duplicate", "replayed"


class VoteEngine:
    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        *,
        batch_max: int = 500,
        ledger_linger: float = 0.002,
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._vote_script = redis.register_script(_script("vote.lua"))
        self._undo_script = redis.register_script(_script("undo.lua"))
        self._decider: Batcher[Ballot, Verdict] = Batcher(
            "decide", self._decide, max_items=batch_max
        )
        self._ledger: Batcher[Ballot, str] = Batcher(
            "ledger", self._write, max_items=batch_max, linger=ledger_linger
        )

    def start(self) -> None:
        self._decider.start()
        self._ledger.start()

    async def stop(self) -> None:
        await self._decider.stop()
        await self._ledger.stop()

    async def cast(self, ballot: Ballot) -> Verdict:
        # Shielded: once Redis has counted a vote, a client that hangs up must not stop
        # the ledger write (or the compensation) half way.
        return await asyncio.shield(self._cast(ballot))

    async def _cast(self, ballot: Ballot) -> Verdict:
        try:
            verdict = await self._decider.submit(ballot)
        except (aioredis.RedisError, OSError) as exc:
            metrics.DEPENDENCY_ERRORS.labels("redis").inc()
            log.warning("redis unavailable while deciding a vote: %s", exc)
            raise Unavailable(
                "the vote service is busy; please try again",
                code="unavailable",
                headers={"Retry-After": RETRY_AFTER_UNAVAILABLE},
            ) from None
        if verdict.outcome == "replayed" and not await self._in_ledger(ballot):
            # The first attempt is still on its way to the ledger, or failed there.
            raise Unavailable(
                "your earlier attempt is still being recorded; please retry",
                code="unavailable",
                headers={"Retry-After": "1"},
            )
        if verdict.outcome != "accepted":
            return verdict
        try:
            kept = await self._ledger.submit(ballot)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            metrics.DEPENDENCY_ERRORS.labels("postgres").inc()
            log.warning("ledger write failed, taking the vote back: %r", exc)
            await self._undo([ballot], "failed", verdict.minute)
            raise Unavailable(
                "your vote could not be recorded; please try again",
                code="unavailable",
                headers={"Retry-After": RETRY_AFTER_UNAVAILABLE},
            ) from None
        if kept != KEPT:
            # Redis had lost this voter's mark (or idempotency key), the ledger had not.
            await self._undo([ballot], "duplicate", verdict.minute)
            verdict.outcome = "replayed" if kept == REPLAYED else "duplicate"
            for option in ballot.choices:
                if option in verdict.counts:
                    verdict.counts[option] -= 1
        return verdict

    async def _in_ledger(self, ballot: Ballot) -> bool:
        try:
            found = await self._pool.fetchval(
                "SELECT 1 FROM votes WHERE poll_id = $1 AND idempotency_key = $2",
                ballot.poll.id,
                ballot.idempotency_key,
                timeout=5,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            return False
        return found is not None

    # ------------------------------------------------------------ Redis side

    async def _decide(self, ballots: list[Ballot]) -> list[Verdict | BaseException]:
        by_poll: dict[str, list[int]] = {}
        for index, ballot in enumerate(ballots):
            by_poll.setdefault(ballot.poll.id, []).append(index)
        pipe = self._redis.pipeline(transaction=False)
        for poll_id, indexes in by_poll.items():
            keys = [counts_key(poll_id), stats_key(poll_id), minutes_key(poll_id)]
            args: list[Any] = [len(indexes)]
            for index in indexes:
                ballot = ballots[index]
                keys.extend(_vote_keys(ballot))
                args.extend(
                    (
                        ",".join(ballot.choices),
                        ballot.voter_mark_ttl,
                        ballot.ip_mark_ttl,
                        *ballot.rate,
                        IDEMPOTENCY_TTL if ballot.idempotency_key else 0,
                        TOKEN_TTL if ballot.token_nonce else 0,
                        0,
                    )
                )
            await self._vote_script(keys=keys, args=args, client=pipe)
        replies = await pipe.execute()
        metrics.DECIDE_BATCH.observe(len(ballots))
        verdicts: list[Verdict | BaseException] = [Unavailable("not decided")] * len(ballots)
        for (_, indexes), reply in zip(by_poll.items(), replies, strict=True):
            minute = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
            tail = reply[1 + 2 * len(indexes) :]
            counts = {tail[j].decode(): int(tail[j + 1]) for j in range(0, len(tail), 2)}
            for pos, index in enumerate(indexes):
                outcome = OUTCOMES[int(reply[1 + 2 * pos])]
                verdicts[index] = Verdict(outcome, int(reply[2 + 2 * pos]), counts, minute)
        return verdicts

    async def _undo(self, ballots: list[Ballot], reason: str, minute: str) -> None:
        poll_id = ballots[0].poll.id
        keys = [counts_key(poll_id), stats_key(poll_id), minutes_key(poll_id)]
        args: list[Any] = [len(ballots), minute]
        for ballot in ballots:
            voter, ip, _, _, idem, token = _vote_keys(ballot)
            keys.extend((voter, ip, idem, token))
            args.extend((",".join(ballot.choices), reason))
        try:
            await self._undo_script(keys=keys, args=args)
        except (aioredis.RedisError, OSError):
            # The reconciler will see the drift against the ledger and repair it.
            metrics.COMPENSATION_FAILURES.inc()
            log.error("could not take back %d vote(s) of poll %s in Redis", len(ballots), poll_id)

    # ------------------------------------------------------------ ledger side

    async def _write(self, ballots: list[Ballot]) -> list[str | BaseException]:
        columns: list[list[Any]] = [[] for _ in range(11)]
        for b in ballots:
            for column, value in zip(
                columns,
                (
                    b.vote_id,
                    b.poll.id,
                    ",".join(b.choices),
                    b.voter_hash,
                    b.ip_hash,
                    b.network_hash,
                    b.voter_key,
                    b.ip_key,
                    b.idempotency_key,
                    b.page_url,
                    b.user_agent,
                ),
                strict=True,
            ):
                column.append(value)
        async with self._pool.acquire(timeout=2) as con:
            rows = await con.fetch(_INSERT, *columns, timeout=5)
            kept = {row["id"] for row in rows}
            results: list[str | BaseException] = []
            for b in ballots:
                if b.vote_id in kept:
                    results.append(KEPT)
                elif b.idempotency_key and await con.fetchval(
                    "SELECT 1 FROM votes WHERE poll_id = $1 AND idempotency_key = $2",
                    b.poll.id,
                    b.idempotency_key,
                ):
                    results.append(REPLAYED)
                else:
                    results.append(DUPLICATE)
        metrics.LEDGER_BATCH.observe(len(ballots))
        return results
