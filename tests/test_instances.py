"""Two instances that share nothing but PostgreSQL and Redis (one server or a cluster), as
behind any balancer:
an admin change on one reaches the other's poll cache, a vote on one reaches the other's
live streams, a stream resumes on the other with Last-Event-ID, and counts stay exact."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import SECRET
from tests.scaling import (
    EventReader,
    Server,
    civicpoll_serve,
    eventually,
    flood,
    ledger_voters,
    open_poll,
    results_total,
    voter_hashes,
)
from tests.serving import admin_token


@pytest.fixture(params=["redis", "cluster"])
def instances(
    request: pytest.FixtureRequest, database_url: str, redis_url: str
) -> Iterator[tuple[Server, Server]]:
    """Two instances on one Redis server, or on the local three-primary Redis Cluster
    (where poll-cache announcements travel over sharded pub/sub)."""
    if request.param == "cluster":
        redis_url = request.getfixturevalue("redis_cluster").url
    with (
        civicpoll_serve(database_url, redis_url, SECRET, workers=1, log_name="instance-a.log") as a,
        civicpoll_serve(database_url, redis_url, SECRET, workers=1, log_name="instance-b.log") as b,
    ):
        yield a, b


async def _vote(url: str, poll: dict, cookie: str | None = None) -> httpx.Response:
    headers = {
        "Cookie": f"pv={cookie or secrets.token_urlsafe(12)}",
        "X-Forwarded-For": f"198.51.100.{secrets.randbelow(250)}",
    }
    async with httpx.AsyncClient(base_url=url) as client:
        return await client.post(
            f"/v1/polls/{poll['id']}/votes",
            json={"choices": [poll["options"][0]["id"]]},
            headers=headers,
        )


@contextlib.asynccontextmanager
async def _stream(url: str, poll_id: str, token: str, **headers: str) -> AsyncIterator[EventReader]:
    auth = {"Authorization": f"Bearer {token}", **headers}
    async with (
        httpx.AsyncClient(base_url=url, timeout=10) as client,
        client.stream("GET", f"/v1/polls/{poll_id}/results/stream", headers=auth) as response,
    ):
        assert response.status_code == 200
        yield EventReader(response)


async def test_a_poll_closed_on_one_instance_is_refused_by_the_other_within_a_second(
    instances, database_url
):
    a, b = instances
    token = await admin_token(database_url, SECRET)
    poll = await open_poll(a.url, token)
    # B has the open poll in its cache (kept 30 s unless told otherwise).
    assert (await _vote(b.url, poll)).status_code == 201
    async with httpx.AsyncClient(base_url=a.url) as admin:
        r = await admin.post(
            f"/v1/admin/polls/{poll['id']}/close", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200, r.text
    closed_at = time.monotonic()

    async def refused() -> int:
        return (await _vote(b.url, poll)).status_code

    await eventually(refused, 409, 1.0)
    assert time.monotonic() - closed_at < 1.0
    r = await _vote(b.url, poll)
    assert r.json()["error"]["code"] == "poll_closed"


async def test_a_vote_on_one_instance_reaches_a_stream_from_the_other(instances, database_url):
    a, b = instances
    token = await admin_token(database_url, SECRET)
    poll = await open_poll(a.url, token)
    async with _stream(b.url, poll["id"], token) as events:
        snapshot = await events.next()
        assert snapshot["event"] == "snapshot" and json.loads(snapshot["data"])["total"] == 0
        assert (await _vote(a.url, poll)).status_code == 201
        update = await events.next()
        assert update["event"] == "results" and json.loads(update["data"])["total"] == 1


async def test_last_event_id_from_one_instance_resumes_on_the_other(instances, database_url):
    a, b = instances
    token = await admin_token(database_url, SECRET)
    poll = await open_poll(a.url, token)
    assert (await _vote(a.url, poll)).status_code == 201
    async with _stream(a.url, poll["id"], token) as events:
        seen = await events.next()
    assert json.loads(seen["data"])["total"] == 1
    # Current: B sends nothing until the counts change, then the change only.
    async with _stream(b.url, poll["id"], token, **{"Last-Event-ID": seen["id"]}) as events:
        next_event = asyncio.create_task(events.next())
        assert (await _vote(b.url, poll)).status_code == 201
        update = await next_event
        assert update["event"] == "results" and json.loads(update["data"])["total"] == 2
    # Behind: B sends the current state at once, as an update.
    async with _stream(b.url, poll["id"], token, **{"Last-Event-ID": seen["id"]}) as events:
        update = await events.next()
        assert update["event"] == "results" and json.loads(update["data"])["total"] == 2


async def test_two_instances_keep_counts_exact_under_concurrent_votes(instances, database_url):
    a, b = instances
    token = await admin_token(database_url, SECRET)
    poll = await open_poll(a.url, token)
    sent_a, sent_b = await asyncio.gather(
        flood(a.url, poll, 300, concurrency=12), flood(b.url, poll, 300, concurrency=12)
    )
    for sent in (sent_a, sent_b):
        assert sent.unanswered == 0 and not sent.refused, sent
    ledger = await ledger_voters(database_url, poll["id"])
    assert ledger == voter_hashes(SECRET, poll["id"], sent_a.accepted + sent_b.accepted)
    assert len(ledger) == 600
    for server in (a, b):
        await eventually(lambda s=server: results_total(s.url, poll["id"]), 600, 5)
