"""Keeping Redis honest: reconciliation against the ledger and rebuilding from it."""

from __future__ import annotations

import logging

from service.ops import metrics
from service.voting.counts import ledger_counts, rebuild_all, rebuild_poll, reconcile
from service.voting.keys import counts_key, rebuilding_key
from service.voting.results import read_counts
from tests.voting.voter import vote


async def test_reconciliation_repairs_a_stable_drift(client, admin, make_poll, state):
    poll = await make_poll()
    for _ in range(3):
        assert (await vote(client, poll)).status_code == 201
    option = poll["options"][0]["id"]
    await state.redis.hincrby(counts_key(poll["id"]), option, 5)
    first = await reconcile(state.pool, state.redis, {})
    assert first == {poll["id"]: 5}
    # Seen twice with the same size: not votes in flight, so it is repaired.
    await reconcile(state.pool, state.redis, first)
    assert await read_counts(state.redis, poll["id"]) == await ledger_counts(state.pool, poll["id"])


async def test_rebuild_restores_counts_and_marks(client, make_poll, state):
    poll = await make_poll()
    assert (await vote(client, poll, cookie="marked-voter")).status_code == 201
    await state.redis.flushdb()
    counts = await rebuild_poll(state.pool, state.redis, poll["id"])
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
    drift = await reconcile(state.pool, state.redis, {poll["id"]: 1}, state.engine.quiesce)
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
    await rebuild_poll(state.pool, state.redis, poll["id"])
    other = await vote(client, poll, cookie="keyed-voter-2", headers=key)
    assert other.status_code == 422, other.text
    again = await vote(client, poll, cookie="keyed-voter-1", headers=key)
    assert again.status_code == 201 and again.json()["replayed"] is True


async def test_an_empty_redis_beside_an_empty_ledger_is_no_warning(
    client, make_poll, state, caplog
):
    await make_poll()
    with caplog.at_level(logging.INFO, logger="civicpoll.counts"):
        await rebuild_all(state.pool, state.redis, "redis_empty")
    [record] = [r for r in caplog.records if "rebuilt counts" in r.getMessage()]
    assert record.levelno == logging.INFO and "(redis_empty)" in record.getMessage()
    caplog.clear()
    # With votes to rebuild, losing them from Redis is worth a warning.
    poll = await make_poll()
    assert (await vote(client, poll)).status_code == 201
    with caplog.at_level(logging.INFO, logger="civicpoll.counts"):
        await rebuild_all(state.pool, state.redis, "redis_empty")
    [record] = [r for r in caplog.records if "rebuilt counts" in r.getMessage()]
    assert record.levelno == logging.WARNING
