"""Keeping Redis honest: reconciliation against the ledger and rebuilding from it."""

from __future__ import annotations

from service.voting.counts import ledger_counts, rebuild_poll, reconcile
from service.voting.keys import counts_key
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
