"""Keeping Redis honest: reconciliation against the ledger and rebuilding from it.

The test app is the only process voting here, so most rebuilds need no grace for other
processes' votes in flight (grace=0); the last test is about exactly that grace."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager

from service.ops import metrics
from service.voting.counts import (
    ledger_counts,
    rebuild_all,
    rebuild_poll,
    reconcile,
)
from service.voting.integrity import read_figures
from service.voting.keys import EPOCH, counts_key, rebuilding_key
from service.voting.results import read_counts
from tests.voting.test_vote_faults import PATIENCE, running_app
from tests.voting.voter import vote


async def test_reconciliation_repairs_a_stable_drift(client, admin, make_poll, state):
    poll = await make_poll()
    for _ in range(3):
        assert (await vote(client, poll)).status_code == 201
    option = poll["options"][0]["id"]
    await state.redis.hincrby(counts_key(poll["id"]), option, 5)
    first = await reconcile(state.pool, state.redis, {}, grace=0)
    assert first == {poll["id"]: 5}
    # Seen twice with the same size: not votes in flight, so it is repaired.
    await reconcile(state.pool, state.redis, first, grace=0)
    assert await read_counts(state.redis, poll["id"]) == await ledger_counts(state.pool, poll["id"])


async def test_rebuild_restores_counts_and_marks(client, make_poll, state):
    poll = await make_poll()
    assert (await vote(client, poll, cookie="marked-voter")).status_code == 201
    await state.redis.flushdb()
    counts = await rebuild_poll(state.pool, state.redis, poll["id"], grace=0)
    assert sum(counts.values()) == 1
    assert (await vote(client, poll, cookie="marked-voter")).status_code == 409


async def test_a_drift_seen_twice_is_checked_exactly_whatever_its_size(client, make_poll, state):
    """Under load the drift's size changes from one look to the next (votes in flight),
    so "twice with the same size" may never happen: a drift seen twice is checked with
    deciding paused and the engine's votes settled, then repaired."""
    poll = await make_poll()
    for _ in range(2):
        assert (await vote(client, poll)).status_code == 201
    option = poll["options"][0]["id"]
    await state.redis.hincrby(counts_key(poll["id"]), option, 4)
    before = metrics.REBUILDS.labels("drift")._value.get()
    drift = await reconcile(state.pool, state.redis, {poll["id"]: 1}, state.engine.quiesce, grace=0)
    assert drift == {}
    assert await read_counts(state.redis, poll["id"]) == await ledger_counts(state.pool, poll["id"])
    assert metrics.REBUILDS.labels("drift")._value.get() == before + 1
    assert not await state.redis.exists(rebuilding_key(poll["id"]))  # votes flow again
    assert (await vote(client, poll)).status_code == 201


async def test_a_rebuilt_idempotency_mark_holds_its_request(client, make_poll, state):
    poll = await make_poll()
    key = {"Idempotency-Key": "rebuilt-key-1"}
    assert (await vote(client, poll, cookie="keyed-voter-1", headers=key)).status_code == 201
    await state.redis.flushdb()
    await rebuild_poll(state.pool, state.redis, poll["id"], grace=0)
    other = await vote(client, poll, cookie="keyed-voter-2", headers=key)
    assert other.status_code == 422, other.text
    again = await vote(client, poll, cookie="keyed-voter-1", headers=key)
    assert again.status_code == 201 and again.json()["replayed"] is True


async def test_an_empty_redis_beside_an_empty_ledger_is_no_warning(
    client, make_poll, state, caplog
):
    await make_poll()
    with caplog.at_level(logging.INFO, logger="civicpoll.counts"):
        await rebuild_all(state.pool, state.redis, "redis_empty", grace=0)
    [record] = [r for r in caplog.records if "rebuilt counts" in r.getMessage()]
    assert record.levelno == logging.INFO and "(redis_empty)" in record.getMessage()
    caplog.clear()
    # With votes to rebuild, losing them from Redis is worth a warning.
    poll = await make_poll()
    assert (await vote(client, poll)).status_code == 201
    with caplog.at_level(logging.INFO, logger="civicpoll.counts"):
        await rebuild_all(state.pool, state.redis, "redis_empty", grace=0)
    [record] = [r for r in caplog.records if "rebuilt counts" in r.getMessage()]
    assert record.levelno == logging.WARNING


async def test_a_rebuild_waits_for_votes_another_process_counted(
    client, make_poll, state, settings
):
    """A second app (another worker or instance: its own engine, same Redis and ledger)
    counts a vote whose ledger write is held up; a rebuild in this process, which cannot
    see that vote in flight, must wait for it rather than replace Redis's count with a
    ledger that lacks it (which would lose the vote from the results for good)."""
    poll = await make_poll()
    assert (await vote(client, poll)).status_code == 201
    async with running_app(settings) as (other, _):
        async with ledger_locked(state):
            held = asyncio.create_task(vote(other, poll))
            await until(lambda: total(state, poll["id"]), 2)  # counted in Redis
            rebuild = asyncio.create_task(rebuild_poll(state.pool, state.redis, poll["id"]))
            flag = rebuilding_key(poll["id"])

            async def paused() -> bool:  # the flag is up (or the rebuild already over)
                return rebuild.done() or bool(await state.redis.exists(flag))

            await until(paused, True)
        assert (await held).status_code == 201
        counts = await rebuild
    assert sum(counts.values()) == 2
    assert await read_counts(state.redis, poll["id"]) == await ledger_counts(state.pool, poll["id"])


async def total(state, poll_id):
    return sum((await read_counts(state.redis, poll_id)).values())


async def until(probe, expected, bound=10.0):
    """Poll an async probe until it returns `expected`, for at most `bound` seconds."""
    deadline = time.monotonic() + bound
    while (value := await probe()) != expected:
        assert time.monotonic() < deadline, f"still {value!r}, expected {expected!r}"
        await asyncio.sleep(0.01)


async def test_after_redis_forgot_a_rebuild_waits_only_for_votes_redis_decided(
    client, make_poll, state
):
    """Redis lost its memory, so its counts can never equal the whole ledger: the rebuild
    waits only until the votes this Redis decided are in the ledger. With an hour's grace
    it must still end (once those votes are settled, at once here); counts, figures and
    voter marks then equal the ledger's."""
    poll = await make_poll()
    for i in range(3):
        assert (await vote(client, poll, cookie=f"early-voter-{i}")).status_code == 201
    await forget(state)
    assert (await vote(client, poll, cookie="later-voter-0")).status_code == 201  # on empty Redis
    rebuilt = rebuild_all(
        state.pool, state.redis, "redis_empty", state.engine.quiesce, grace=3600, emptied=True
    )
    assert await asyncio.wait_for(rebuilt, PATIENCE) == 1
    assert await read_counts(state.redis, poll["id"]) == await ledger_counts(state.pool, poll["id"])
    figures = await read_figures(state.redis, poll["id"])
    assert (figures["accepted"], figures["held"], figures["solved"]) == (4, 0, 0)
    for voter in ("early-voter-1", "later-voter-0"):
        assert (await vote(client, poll, cookie=voter)).status_code == 409


async def test_after_redis_forgot_a_rebuild_waits_for_another_process_vote(
    client, make_poll, state, settings
):
    """A second app counts a vote in the emptied Redis whose ledger write is held up: the
    rebuild must wait for it (then count it), not replace Redis's counts without it."""
    poll = await make_poll()
    assert (await vote(client, poll)).status_code == 201
    async with running_app(settings) as (other, _):
        await forget(state)
        async with ledger_locked(state):
            held = asyncio.create_task(vote(other, poll))
            await until(lambda: total(state, poll["id"]), 1)  # counted in the new Redis
            rebuild = asyncio.create_task(
                rebuild_all(state.pool, state.redis, "redis_empty", grace=3600, emptied=True)
            )
            flag = rebuilding_key(poll["id"])

            async def paused() -> bool:
                return rebuild.done() or bool(await state.redis.exists(flag))

            await until(paused, True)
            # A window to catch a rebuild that does not wait (it would end within it, its
            # reads pass the lock); a slow machine only makes the check weaker, never false.
            await asyncio.wait({rebuild}, timeout=1.0)
            assert not rebuild.done()
        assert (await held).status_code == 201
        assert await asyncio.wait_for(rebuild, PATIENCE) == 1
    assert await read_counts(state.redis, poll["id"]) == await ledger_counts(state.pool, poll["id"])
    assert sum((await ledger_counts(state.pool, poll["id"])).values()) == 2


async def forget(state):
    """Redis loses its memory; the epoch mark is put back at once, so that the apps' own
    maintenance leaves the rebuild to the test."""
    await state.redis.flushdb()
    await state.redis.set(EPOCH, 1)


@asynccontextmanager
async def ledger_locked(state):
    """While inside, the ledger takes no insert (they wait); reads still pass."""
    blocker = await state.pool.acquire()
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("LOCK TABLE votes IN EXCLUSIVE MODE")
    try:
        yield
    finally:
        await tx.rollback()
        await state.pool.release(blocker)
