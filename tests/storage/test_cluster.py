"""The service on a real local Redis Cluster of three primaries: votes, de-duplication
and idempotent replays routed to each poll's slot, a rebuild after one node lost its
memory, dropping a deleted poll's keys, and cache announcements over sharded pub/sub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.core.settings import Settings
from service.identity.principal import SCOPES, create_token
from service.storage.redis import connect_redis, is_cluster, per_node_keys
from service.voting.counts import ensure_epoch, ledger_counts
from service.voting.keys import EPOCH, counts_key, poll_prefix, voter_mark_key
from service.voting.results import read_counts
from tests.conftest import SECRET
from tests.rediscluster import LocalCluster
from tests.voting.voter import vote


@pytest.fixture
async def on_cluster(
    settings: Settings, redis_cluster: LocalCluster
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, Any]]:
    """The app on the cluster (an empty ledger, an empty cluster): an anonymous client,
    an admin client, and the app's services."""
    cluster_settings = settings.with_changes(redis_url=redis_cluster.url)
    app = create_app(cluster_settings)
    async with LifespanManager(app, shutdown_timeout=60) as manager:
        svc = manager._state["services"]
        await svc.pool.execute(
            "TRUNCATE votes, audit_log, api_tokens, poll_options, polls, sites"
            " RESTART IDENTITY CASCADE"
        )
        await svc.redis.flushdb()
        for mark in await per_node_keys(svc.redis, EPOCH):
            await svc.redis.set(mark, 1)
        async with svc.pool.acquire() as con:
            _, token = await create_token(con, SECRET.encode(), list(SCOPES), None)
        transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 50010))
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
            httpx.AsyncClient(
                transport=transport,
                base_url="http://testserver",
                headers={"Authorization": f"Bearer {token}"},
            ) as admin,
        ):
            yield client, admin, svc


async def _polls(admin: httpx.AsyncClient, n: int, site: bool = True) -> list[dict[str, Any]]:
    if site:
        await _site(admin)
    polls = []
    for i in range(n):
        body = {"site": "cluster", "question": f"Câu hỏi {i}?", "options": ["Có", "Không"]}
        r = await admin.post("/v1/admin/polls", json=body)
        assert r.status_code == 201, r.text
        r = await admin.post(f"/v1/admin/polls/{r.json()['id']}/open")
        assert r.status_code == 200, r.text
        polls.append(dict(r.json()))
    return polls


async def _site(admin: httpx.AsyncClient) -> None:
    r = await admin.post(
        "/v1/admin/sites",
        json={
            "slug": "cluster",
            "name": "Cluster",
            "rate_per_ip_per_minute": 10000,
            "burst_per_ip": 10000,
            "rate_per_network_per_minute": 10000,
            "burst_per_network": 10000,
        },
    )
    assert r.status_code == 201, r.text


async def _agree(svc: Any, poll_id: str) -> bool:
    """Redis's counts are the ledger's (options without votes may be absent in Redis)."""
    live = await read_counts(svc.redis, poll_id)
    truth = await ledger_counts(svc.pool, poll_id)
    return {k: n for k, n in live.items() if n} == {k: n for k, n in truth.items() if n}


async def test_the_url_selects_the_cluster_client_and_one_mark_per_primary(redis_cluster):
    redis = connect_redis(redis_cluster.url)
    try:
        assert is_cluster(redis)
        marks = await per_node_keys(redis, EPOCH)
        assert len(marks) == 3
        assert {redis_cluster.node_of(mark) for mark in marks} == set(redis_cluster.ports)
    finally:
        await redis.aclose()


async def test_votes_dedupe_and_replays_on_polls_spread_over_the_nodes(on_cluster, redis_cluster):
    client, admin, svc = on_cluster
    polls = await _polls(admin, 8)
    # Polls on more than one of the three primaries, so the scripts are routed, not
    # lucky: more polls until their slots fall on two nodes at least.
    nodes = {redis_cluster.node_of(counts_key(p["id"])) for p in polls}
    while len(nodes) < 2 and len(polls) < 40:
        [more] = await _polls(admin, 1, site=False)
        polls.append(more)
        nodes.add(redis_cluster.node_of(counts_key(more["id"])))
    assert len(nodes) >= 2
    for poll in polls:
        assert (await vote(client, poll, cookie=f"voter-{poll['id']}")).status_code == 201
        again = await vote(client, poll, cookie=f"voter-{poll['id']}")
        assert again.status_code == 409, again.text
        key = {"Idempotency-Key": f"key-{poll['id']}"}
        first = await vote(client, poll, cookie=f"keyed-{poll['id']}", headers=key)
        replay = await vote(client, poll, cookie=f"keyed-{poll['id']}", headers=key)
        assert first.status_code == 201 and replay.status_code == 201
        assert replay.json()["replayed"] is True
        assert await _agree(svc, poll["id"])
        assert sum((await ledger_counts(svc.pool, poll["id"])).values()) == 2


async def test_one_node_losing_its_memory_is_noticed_and_rebuilt(on_cluster, redis_cluster):
    client, admin, svc = on_cluster
    polls = await _polls(admin, 6)
    for poll in polls:
        assert (await vote(client, poll, cookie=f"voter-{poll['id']}")).status_code == 201
    lost = redis_cluster.node_of(counts_key(polls[0]["id"]))
    redis_cluster.forget_everything(lost)
    assert await read_counts(svc.redis, polls[0]["id"]) in ({}, {"1": 0, "2": 0})
    # The app is the only process voting: no other process's votes to wait for.
    assert await ensure_epoch(svc.pool, svc.redis, svc.engine.quiesce, grace=0)
    for poll in polls:
        assert await _agree(svc, poll["id"])
        # The marks came back too: the voter is still refused as having voted.
        assert (await vote(client, poll, cookie=f"voter-{poll['id']}")).status_code == 409
    assert not await ensure_epoch(svc.pool, svc.redis, svc.engine.quiesce, grace=0)


async def test_a_deleted_polls_keys_are_dropped_from_its_node(on_cluster, redis_cluster):
    client, admin, svc = on_cluster
    [poll] = await _polls(admin, 1)
    assert (await vote(client, poll, cookie="leaving-voter")).status_code == 201
    pattern = poll_prefix(poll["id"]).replace("{", "\\{").replace("}", "\\}") + "*"
    assert [k async for k in svc.redis.scan_iter(match=pattern)]  # counts, marks, ...
    r = await admin.post(f"/v1/admin/polls/{poll['id']}/close")
    assert r.status_code == 200, r.text
    r = await admin.delete(f"/v1/admin/polls/{poll['id']}?force=true")
    assert r.status_code in (200, 204), r.text
    left = [k async for k in svc.redis.scan_iter(match=pattern)]
    assert left == []
    assert not await svc.redis.exists(voter_mark_key(poll["id"], "x"))
