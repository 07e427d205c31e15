"""How long voting answers 503 when Redis comes back empty, and where that time goes.

Starts its own embedded PostgreSQL and Redis, seeds a ledger (a few polls, one of them
big), runs a steady vote load through one or more apps in this process (each with its
own engine and count maintenance, as separate workers would have; they share Redis and
PostgreSQL), empties Redis (FLUSHALL, or --restart: SIGKILL and start again without
persistence) and reports, from the voters' side, how many votes got 503 and for how
long, and from the rebuild's side how long each stage took.

    .venv/bin/python bench/redis_restart.py [--apps 1] [--big 27530] [--polls 20] [--restart]
    .venv/bin/python bench/redis_restart.py --workers 2   # real processes: civicpoll serve
    .venv/bin/python bench/redis_restart.py --postgres 5  # PostgreSQL down 5 s instead

--workers N serves over HTTP from `civicpoll serve --workers N` (uvicorn's processes, one
core each at most) instead of in-process apps; only the voters' side is reported then.

Machine-noise note: the figures are durations of one event, so run it a few times and
quote the median; the stage split says which part a change moved.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from asgi_lifespan import LifespanManager

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.app import create_app
from service.core.settings import Settings
from service.dev.services import EmbeddedPostgres, EmbeddedRedis, free_port
from service.identity.principal import create_token
from service.ops import metrics
from service.storage.db import create_pool
from service.voting import counts
from service.voting.keys import EPOCH, EPOCH_REBUILDING

SECRET = "restart-bench-secret-key-not-for-production-0123456789"
stages: dict[str, list[float]] = {}
finished: dict[str, asyncio.Event] = {}


def timed(name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """fn, recording how long each call took under `name` (measurement only)."""

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            stages.setdefault(name, []).append(time.perf_counter() - started)
            finished.setdefault(name, asyncio.Event()).set()

    return wrapper


def _refusals() -> dict[str, float]:
    return {
        reason: metrics.DECIDE_REFUSALS.labels(reason)._value.get()
        for reason in ("queue_budget", "rebuilding", "expired")
    }


def _marked(times: list[float], fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        finally:
            times.append(time.monotonic())

    return wrapper


def _report_postgres(
    answers: list[tuple[float, int, float]], stopped: float, back: float, down: float
) -> None:
    after = [(t - stopped, s, took) for t, s, took in answers if t >= stopped]
    refused = [(t, took) for t, s, took in after if s == 503]
    print(f"PostgreSQL stopped for {down} s (started again +{back - stopped:.2f} s)")
    print(f"votes after the stop: {len(after)}, 503: {len(refused)}")
    if refused:
        print(
            f"503 from +{refused[0][0]:.2f} s to +{refused[-1][0]:.2f} s; a 503 took median"
            f" {statistics.median(took for _, took in refused):.2f} s,"
            f" max {max(took for _, took in refused):.2f} s"
        )
    accepted = [t for t, s, _ in after if s == 201 and t >= back - stopped]
    if accepted:
        print(f"first 201 after the restart: +{accepted[0] - (back - stopped):.2f} s")


@contextlib.asynccontextmanager
async def served(settings: Settings, workers: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    """`civicpoll serve --workers N` on a free port, and a keep-alive client for it."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SECRET_KEY": SECRET,
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "RECONCILE_SECONDS": "0",
        "LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "service.cli", "serve", "--workers", str(workers)]
    server = await asyncio.create_subprocess_exec(*command, "--port", str(port), env=env)
    try:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as c:
            for _ in range(600):
                with contextlib.suppress(httpx.TransportError):
                    if (await c.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            yield [c]
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 60)


@contextlib.asynccontextmanager
async def apps(settings: Settings, n: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for i in range(n):
            manager = await stack.enter_async_context(
                LifespanManager(create_app(settings), shutdown_timeout=60)
            )
            transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 51000 + i))
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://testserver")
                )
            )
        yield clients


async def seed(client: httpx.AsyncClient, pool: Any, polls: int, big: int) -> list[dict[str, Any]]:
    async with pool.acquire() as con:
        _, token = await create_token(con, SECRET.encode(), ["polls:write", "sites:admin"], None)
    auth = {"Authorization": f"Bearer {token}"}
    r = await client.post(
        "/v1/admin/sites",
        headers=auth,
        json={
            "slug": "bench",
            "name": "Bench",
            "rate_per_ip_per_minute": 10000,
            "burst_per_ip": 10000,
            "rate_per_network_per_minute": 10000,
            "burst_per_network": 10000,
        },
    )
    assert r.status_code == 201, r.text
    made = []
    for i in range(polls):
        r = await client.post(
            "/v1/admin/polls",
            headers=auth,
            json={"site": "bench", "question": f"Câu hỏi {i}?", "options": ["Có", "Không"]},
        )
        poll = r.json()
        r = await client.post(f"/v1/admin/polls/{poll['id']}/open", headers=auth)
        made.append(r.json())
        size = big if i == 0 else big // 20
        options = [o["id"] for o in poll["options"]]
        await pool.execute(
            "INSERT INTO votes (id, poll_id, option_ids, voter_hash, voter_key, ip_hash,"
            " network_hash, cast_at)"
            " SELECT uuidv7(-(g || ' seconds')::interval), $1,"
            " ARRAY[($2::bigint[])[1 + g % 2]], md5(g::text), md5(g::text), md5(g::text), 'n',"
            " now() - (g || ' seconds')::interval"
            " FROM generate_series(1, $3) AS g",
            poll["id"],
            [int(o) for o in options],
            size,
        )
    return made


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=1, help="apps (workers) sharing the stores")
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--big", type=int, default=27530, help="ledger rows of the big poll")
    parser.add_argument("--clients", type=int, default=16, help="voters in flight")
    parser.add_argument("--restart", action="store_true", help="kill and restart Redis")
    parser.add_argument("--workers", type=int, default=0, help="serve with N real processes")
    parser.add_argument(
        "--postgres", type=float, default=0, help="stop PostgreSQL this many seconds instead"
    )
    args = parser.parse_args()

    counts.rebuild_all = timed("rebuild_all (total)", counts.rebuild_all)
    counts._restore_poll_marks = timed("restore marks, per poll", counts._restore_poll_marks)
    counts.settle_elsewhere = timed("settle_elsewhere (grace)", counts.settle_elsewhere)
    if hasattr(counts, "_rebuild"):  # the bulk rebuild; older code replaced poll by poll
        counts._rebuild = timed("flags up: settle + read + write", counts._rebuild)
    else:
        counts.replace_counts = timed("replace counts, per poll", counts.replace_counts)

    with tempfile.TemporaryDirectory(prefix="civicpoll-bench-") as scratch:
        pg = EmbeddedPostgres(Path(scratch) / "pg", free_port())
        redis = EmbeddedRedis(Path(scratch) / "redis", free_port(), appendonly=False)
        dsn = pg.start()
        redis.start()
        try:
            settings = Settings.from_env(
                {
                    "DATABASE_URL": dsn,
                    "REDIS_URL": redis.url,
                    "SECRET_KEY": SECRET,
                    "TRUSTED_PROXIES": "127.0.0.1/32",
                    "ACCESS_LOG": "false",
                    "RECONCILE_SECONDS": "0",
                    "LOG_LEVEL": "warning",
                }
            )
            refusals_before = _refusals()
            flags: list[float] = []
            counts._write_poll = _marked(flags, counts._write_poll)
            serving = served(settings, args.workers) if args.workers else apps(settings, args.apps)
            async with serving as clients:
                pool = await create_pool(dsn, 4)
                polls = await seed(clients[0], pool, args.polls, args.big)
                answers: list[tuple[float, int, float]] = []
                stop = asyncio.Event()

                async def voter(n: int) -> None:
                    client = clients[n % len(clients)]
                    while not stop.is_set():
                        poll = polls[secrets.randbelow(len(polls))]
                        sent = time.monotonic()
                        r = await client.post(
                            f"/v1/polls/{poll['id']}/votes",
                            json={"choices": [poll["options"][0]["id"]]},
                            headers={
                                "Cookie": f"pv={secrets.token_urlsafe(12)}",
                                "X-Forwarded-For": f"198.18.{n}.{secrets.randbelow(250)}",
                            },
                        )
                        answers.append((time.monotonic(), r.status_code, time.monotonic() - sent))
                        if r.status_code == 503:
                            await asyncio.sleep(0.01)  # a client's pacing of its retry

                load = [asyncio.create_task(voter(n)) for n in range(args.clients)]
                await asyncio.sleep(3)
                stages.clear()
                emptied = time.monotonic()
                if args.postgres:
                    await pool.close()
                    await asyncio.to_thread(pg.stop)
                    await asyncio.sleep(args.postgres)
                    await asyncio.to_thread(pg.start)
                    back = time.monotonic()
                    await asyncio.sleep(5)
                    stop.set()
                    await asyncio.gather(*load)
                    _report_postgres(answers, emptied, back, args.postgres)
                    return
                if args.restart:
                    redis.kill()
                    redis.restart()
                else:
                    probe = aioredis.from_url(redis.url)
                    await probe.flushall()
                    await probe.aclose()
                # The rebuild ends by writing the epoch mark (what every process checks).
                probe = aioredis.from_url(redis.url)
                while not await probe.exists(EPOCH) or await probe.exists(EPOCH_REBUILDING):  # noqa: ASYNC110 -- another process's mark: no event to wait on
                    await asyncio.sleep(0.05)  # a probe's pace, in a benchmark
                await probe.aclose()
                await asyncio.sleep(3)
                stop.set()
                await asyncio.gather(*load)
                ledger = await pool.fetchval("SELECT count(*) FROM votes")
                await pool.close()

            after = [(t - emptied, s) for t, s, _ in answers if t >= emptied]
            if flags:
                print(
                    f"polls' counts written (flags lowered) +{flags[0] - emptied:.2f} s"
                    f" to +{flags[-1] - emptied:.2f} s after emptying"
                )
            refused_why = {k: v - refusals_before.get(k, 0) for k, v in _refusals().items()}
            print(f"in-process 503 reasons: {refused_why}")
            refused = [t for t, s in after if s == 503]
            other = {s for _, s in after} - {201, 503}
            who = f"workers={args.workers}" if args.workers else f"apps={args.apps}"
            print(f"{who} polls={args.polls} big poll={args.big} ledger rows={ledger}")
            print(f"votes after emptying: {len(after)}, 503: {len(refused)}, other: {other}")
            if refused:
                print(
                    f"503 from +{refused[0]:.2f} s to +{refused[-1]:.2f} s after emptying"
                    f" (span {refused[-1] - refused[0]:.2f} s)"
                )
            # When the 503s came, in quarter seconds after emptying (clusters tell causes apart).
            timeline = sorted(Counter(round(t * 4) / 4 for t in refused).items())
            print(f"503 timeline (s: n): {dict(timeline)}")
            for name, values in stages.items():
                print(
                    f"  {name}: n={len(values)} total={sum(values):.3f} s"
                    f" median={statistics.median(values):.4f} s max={max(values):.3f} s"
                )
        finally:
            redis.stop()
            pg.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    asyncio.run(main())
