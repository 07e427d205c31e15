"""Faults on the vote path: Redis killed mid-run, PostgreSQL stopped, Redis forgetting,
a bug in a stage. Each test that breaks a server gets servers of its own.

No assertion here reads a stopwatch: what a test waits for it waits for with a generous
bound (a slow CI machine only makes it wait longer), and "fast" is asserted as an order
of events (a 503 arrives while the dependency is still down) or as the client's own
configured timeouts."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.core.settings import Settings
from service.dev.services import EmbeddedPostgres, EmbeddedRedis, free_port
from service.identity.keys import Hasher
from service.ops import metrics
from service.voting import ledger
from service.voting.counts import ledger_counts
from service.voting.integrity import read_figures
from service.voting.keys import idempotency_key, voter_mark_key
from service.voting.results import read_counts
from tests.voting.voter import vote


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """A second app on the given settings, with a client from a trusted proxy."""
    app = create_app(settings)
    async with LifespanManager(app, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 50002))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c, manager._state["services"]


async def open_poll(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {token}"}
    r = await client.post(
        "/v1/admin/sites",
        headers=auth,
        json={
            "slug": "faults",
            "name": "Faults",
            "rate_per_ip_per_minute": 10000,
            "burst_per_ip": 10000,
            "rate_per_network_per_minute": 10000,
            "burst_per_network": 10000,
        },
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/admin/polls",
        headers=auth,
        json={
            "site": "faults",
            "question": "Có nên mở rộng phố đi bộ?",
            "options": ["Có", "Không"],
        },
    )
    assert r.status_code == 201, r.text
    poll_id = r.json()["id"]
    r = await client.post(f"/v1/admin/polls/{poll_id}/open", headers=auth)
    assert r.status_code == 200, r.text
    return dict(r.json())


# How long a stall lasts: longer than the vote path's whole Redis budget (about a second,
# see voting/engine.py and storage/redis.py), shorter than the waits it replaced (2-4.7 s).
STALL = 1.5

# Generous: a condition that holds is seen within milliseconds; this only bounds a failure.
PATIENCE = 60.0


async def until(check: Any, limit: float = PATIENCE) -> None:
    """Wait for a condition (a plain or async callable), polling; fail after `limit` s."""
    deadline = time.monotonic() + limit
    while not await _truth(check()):
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_redis_killed_mid_run_loses_no_accepted_vote(
    settings, state, make_token, scratch_dir: Path
):
    redis = EmbeddedRedis(scratch_dir / "redis-kill", free_port(), appendonly=False)
    redis.start()
    try:
        async with running_app(settings.with_changes(redis_url=redis.url)) as (client, st):
            poll = await open_poll(client, await make_token())
            outcomes: dict[int, int] = {}
            in_flight: set[int] = set()
            gate = asyncio.Semaphore(16)

            async def cast(i: int) -> None:
                async with gate:
                    in_flight.add(i)
                    r = await vote(client, poll, cookie=f"voter-{i:05d}", ip=f"198.51.{i % 200}.7")
                    outcomes[i] = r.status_code
                    in_flight.discard(i)
                    if r.status_code == 503:
                        assert r.json()["error"]["code"] == "unavailable"
                        assert "retry-after" in r.headers

            run = [asyncio.create_task(cast(i)) for i in range(300)]
            await until(lambda: len(outcomes) >= 80)
            redis.kill()  # SIGKILL, votes still in flight
            caught = set(in_flight)
            # A 503 must come fast, not once Redis is back: every vote caught in flight by
            # the kill is answered, and some with 503, while Redis is still dead.
            await until(lambda: caught.isdisjoint(in_flight) and 503 in outcomes.values())
            redis.restart()  # comes back empty: no persistence
            await asyncio.gather(*run)
            # Voters whose vote failed try again now that Redis is back.
            for i in [i for i, code in outcomes.items() if code == 503]:
                r = await vote(client, poll, cookie=f"voter-{i:05d}")
                outcomes[i] = r.status_code

            accepted = {i for i, code in outcomes.items() if code == 201}
            assert set(outcomes.values()) == {201}, outcomes
            hasher = Hasher(settings.secret_key)
            rows = await st.pool.fetch(
                "SELECT voter_hash FROM votes WHERE poll_id = $1", poll["id"]
            )
            assert {r["voter_hash"] for r in rows} == {
                hasher(poll["id"], "voter", f"voter-{i:05d}") for i in accepted
            }

            # Redis came back empty: the service notices and rebuilds from the ledger.
            truth = await ledger_counts(st.pool, poll["id"])
            assert sum(truth.values()) == 300

            async def rebuilt() -> bool:
                return await read_counts(st.redis, poll["id"]) == truth

            await until(rebuilt)
            # ...voter marks included: an early voter is still refused.
            again = await vote(client, poll, cookie="voter-00001")
            assert again.status_code == 409
    finally:
        redis.stop()


async def _truth(value: Any) -> bool:
    return bool(await value) if asyncio.iscoroutine(value) else bool(value)


async def test_postgres_stopped_gives_503_then_recovers(settings, scratch_dir: Path):
    pg = EmbeddedPostgres(scratch_dir / "pg-stop", free_port())
    redis = EmbeddedRedis(scratch_dir / "redis-pgstop", free_port(), appendonly=False)
    dsn = pg.start()
    redis.start()
    try:
        changed = settings.with_changes(database_url=dsn, redis_url=redis.url)
        async with running_app(changed) as (client, st):
            from service.identity.principal import create_token

            async with st.pool.acquire() as con:
                _, token = await create_token(
                    con, settings.secret_key, ["polls:write", "polls:read", "sites:admin"], None
                )
            poll = await open_poll(client, token)
            assert (await vote(client, poll)).status_code == 201

            pg.stop()
            # Answered while PostgreSQL is still down: the ledger stage's own timeouts end
            # the wait, not PostgreSQL's return.
            down = await asyncio.wait_for(vote(client, poll), PATIENCE)
            assert down.status_code == 503, down.text
            assert down.json()["error"]["code"] == "unavailable"
            assert down.headers["retry-after"]
            # The Redis side was compensated: the refused vote is not counted.
            assert sum((await read_counts(st.redis, poll["id"])).values()) == 1
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and "postgres" in ready.json()["message"]

            pg.start()
            recovered: list[int] = []

            async def accepted_again() -> bool:
                recovered.append((await vote(client, poll)).status_code)
                return recovered[-1] == 201

            await until(accepted_again)
            assert (await client.get("/readyz")).status_code == 200
            total = await st.pool.fetchval("SELECT count(*) FROM votes")
            assert total == 2
            assert sum((await read_counts(st.redis, poll["id"])).values()) == 2
    finally:
        redis.stop()
        pg.stop()


async def test_redis_down_answers_503_fast(settings, make_token, state, scratch_dir: Path):
    redis = EmbeddedRedis(scratch_dir / "redis-down", free_port(), appendonly=False)
    redis.start()
    try:
        async with running_app(settings.with_changes(redis_url=redis.url)) as (client, st):
            # "Fast" is the client's configuration: a dead Redis costs a vote at most a
            # refused connect, a 0.5 s connect timeout or a 1 s read, retried once...
            conf = st.redis.connection_pool.connection_kwargs
            assert conf["socket_connect_timeout"] <= 0.5 and conf["socket_timeout"] <= 1.0
            assert st.redis.get_retry().get_retries() <= 1
            poll = await open_poll(client, await make_token())
            redis.stop()
            # ...and the vote path waits on nothing else: the 503 comes while Redis is down.
            r = await asyncio.wait_for(vote(client, poll), PATIENCE)
            assert r.status_code == 503
            assert r.json()["error"]["code"] == "unavailable"
            redis.start()

            async def back() -> bool:
                return (await vote(client, poll)).status_code == 201

            await until(back)
    finally:
        redis.stop()


async def test_the_ledger_refuses_what_a_forgetful_redis_let_through(client, make_poll, state):
    """Redis lost a voter's mark and an idempotency key (no rebuild yet): the ledger's
    unique keys refuse the second vote, Redis is compensated, and a retried request
    still gets its first answer."""
    poll = await make_poll()
    retry = {"Idempotency-Key": "retry-ledger-1"}
    assert (await vote(client, poll, cookie="forgotten-voter")).status_code == 201
    first = await vote(client, poll, cookie="keyed-voter", headers=retry)
    assert first.status_code == 201
    marks = [
        key
        for pattern in (voter_mark_key(poll["id"], "*"), idempotency_key(poll["id"], "*"))
        async for key in state.redis.scan_iter(match=pattern)
    ]
    assert len(marks) == 3  # two voter marks and one idempotency key
    await state.redis.delete(*marks)

    again = await vote(client, poll, cookie="forgotten-voter")
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "already_voted"
    replay = await vote(client, poll, cookie="keyed-voter", headers=retry)
    assert replay.status_code == 201, replay.text
    assert replay.json()["replayed"] is True
    truth = await ledger_counts(state.pool, poll["id"])
    assert sum(truth.values()) == 2
    live = await read_counts(state.redis, poll["id"])
    assert {k: n for k, n in truth.items() if n} == {k: n for k, n in live.items() if n}


async def test_a_batch_failing_on_a_bug_answers_503_instead_of_hanging(
    client, make_poll, state, monkeypatch
):
    """A stage settles its own votes; should a bug raise in one instead, its voters get a
    503 at once rather than waiting for an answer that never comes."""
    poll = await make_poll()

    def broken(vote_id: str, ballot: Any) -> str:
        raise RuntimeError("a bug in the ledger stage")

    monkeypatch.setattr(ledger, "ledger_record", broken)
    answer = await asyncio.wait_for(vote(client, poll), PATIENCE)
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "unavailable"
    monkeypatch.undo()
    assert (await vote(client, poll)).status_code == 201


def _evalsha_calls(info: dict[str, Any]) -> int:
    return int(info.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_a_redis_stall_answers_503_fast_and_locks_no_voter_out(
    settings, make_token, state, scratch_dir: Path
):
    """Redis frozen (SIGSTOP) while voters vote: each hears 503 while Redis is still
    frozen (votes and a results read alike), and the decide calls Redis runs once it
    resumes, after the engine gave up on them, change nothing: every voter who heard
    503 votes again, same Idempotency-Key, and is accepted; counts equal the ledger."""
    redis = EmbeddedRedis(scratch_dir / "redis-stall", free_port(), appendonly=False)
    redis.start()
    try:
        async with running_app(settings.with_changes(redis_url=redis.url)) as (client, st):
            poll = await open_poll(client, await make_token())
            assert (await vote(client, poll)).status_code == 201
            probe = aioredis.from_url(redis.url)
            sent_before = _evalsha_calls(await probe.info("commandstats"))
            failed_before = metrics.DEPENDENCY_ERRORS.labels("redis")._value.get()
            voters = [f"stalled-voter-{i:03d}" for i in range(12)]

            async def cast(name: str) -> httpx.Response:
                return await vote(client, poll, cookie=name, headers={"Idempotency-Key": name})

            async def results() -> httpx.Response:
                return await client.get(f"/v1/polls/{poll['id']}/results")

            pid = redis.pid
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            try:
                st.counts._entries.clear()  # the results read must ask Redis
                answers = [asyncio.create_task(cast(name)) for name in voters]
                read = asyncio.create_task(results())
                # The stall outlasts the vote path's budget (~1 s): every answer must
                # have come before Redis resumes.
                await asyncio.sleep(STALL)
                answered_while_frozen = [a.done() for a in answers] + [read.done()]
            finally:
                os.kill(pid, signal.SIGCONT)
            assert all(answered_while_frozen), answered_while_frozen
            codes = [(await a).status_code for a in answers]
            assert codes == [503] * len(voters), codes
            assert (await read).status_code == 503

            # Each decide call the engine gave up on reached Redis's socket; wait until
            # Redis has run them all (late, after their deadline), then retry.
            sent = int(metrics.DEPENDENCY_ERRORS.labels("redis")._value.get() - failed_before)

            async def backlog_run() -> bool:
                return _evalsha_calls(await probe.info("commandstats")) >= sent_before + sent

            await until(backlog_run)
            retried = [await cast(name) for name in voters]
            assert [r.status_code for r in retried] == [201] * len(voters), [
                r.text for r in retried
            ]
            truth = await ledger_counts(st.pool, poll["id"])
            assert sum(truth.values()) == 1 + len(voters)
            live = await read_counts(st.redis, poll["id"])
            assert {k: n for k, n in live.items() if n} == {k: n for k, n in truth.items() if n}
            await probe.aclose()
    finally:
        redis.stop()


async def test_decide_deadlines_are_spelled_in_redis_clock(client, make_poll, state):
    """The engine's estimate of Redis's clock is what a deadline is measured in: wrong
    by 10 s (Redis "behind"), every call arrives expired and is answered 503; measured
    again (the count maintenance does it every 2 s), votes are accepted."""
    poll = await make_poll()
    engine_ = state.engine
    engine_.clock.offset_ms = -10_000.0
    try:
        late = await vote(client, poll)
        assert late.status_code == 503, late.text
    finally:
        await engine_.sync_clock()
    assert abs(engine_.clock.offset_ms) < 1_000  # one machine, one clock
    assert (await vote(client, poll)).status_code == 201


async def test_counts_are_exact_after_redis_comes_back_empty_under_load(
    settings, make_token, state, scratch_dir: Path
):
    """40 clients vote steadily; Redis is killed and restarted empty while they do. The
    rebuild from the ledger pauses deciding for the poll and waits for the votes in
    flight, so once the load stops the counts equal the ledger with no reconciler."""
    redis = EmbeddedRedis(scratch_dir / "redis-load", free_port(), appendonly=False)
    redis.start()
    try:
        async with running_app(settings.with_changes(redis_url=redis.url)) as (client, st):
            poll = await open_poll(client, await make_token())
            accepted = 0
            stop = asyncio.Event()
            rebuilds_before = metrics.REBUILDS.labels("redis_empty")._value.get()

            async def client_loop(n: int) -> None:
                nonlocal accepted
                i = 0
                while not stop.is_set():
                    name = f"load-{n:02d}-{i:05d}"
                    i += 1
                    while not stop.is_set():
                        r = await vote(client, poll, cookie=name, ip=f"198.18.{n}.{i % 250}")
                        if r.status_code == 201:
                            accepted += 1
                            break
                        assert r.status_code == 503, r.text
                        await asyncio.sleep(0.01)  # pacing a retry, not synchronization

            load = [asyncio.create_task(client_loop(n)) for n in range(40)]
            await until(lambda: accepted >= 300)
            redis.kill()
            redis.restart()  # empty: no persistence
            await until(
                lambda: metrics.REBUILDS.labels("redis_empty")._value.get() > rebuilds_before
            )
            mark = accepted
            await until(lambda: accepted >= mark + 300)
            stop.set()
            await asyncio.gather(*load)

            rows = await st.pool.fetchval(
                "SELECT count(*) FROM votes WHERE poll_id = $1", poll["id"]
            )
            assert rows >= accepted
            assert sum((await read_counts(st.redis, poll["id"])).values()) == rows

            async def public_total() -> bool:
                r = await client.get(f"/v1/polls/{poll['id']}/results")
                return r.status_code == 200 and r.json()["total"] == rows

            await until(public_total)
            # The integrity figures came back with the counts: every row is "accepted".
            await st.tally.flush()
            assert (await read_figures(st.redis, poll["id"]))["accepted"] == rows
            # ...and the voters' marks: one who voted before the restart is refused.
            assert (await vote(client, poll, cookie="load-00-00000")).status_code == 409
    finally:
        redis.stop()
