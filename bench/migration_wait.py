"""Votes while a migration waits for the ledger: with the runner's lock timeout, and without.

A reader's transaction holds the ledger (ACCESS SHARE) for HOLD seconds while a migration
adds a column to `votes` (it needs ACCESS EXCLUSIVE). Votes are cast one after another
through the app meanwhile; the script prints their answers and latencies for both policies,
in one run, on embedded PostgreSQL and Redis:

    .venv/bin/python bench/migration_wait.py [HOLD_SECONDS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.core.settings import Settings
from service.dev.services import EmbeddedPostgres, EmbeddedRedis, free_port
from service.storage.db import apply_schema
from service.storage.migrate import Migration, Policy, apply_pending, read_migrations

HOLD = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0


async def one_round(
    client: httpx.AsyncClient, dsn: str, poll: dict[str, object], policy: Policy, n: int
) -> tuple[list[int], list[float], float]:
    probe = Migration(9000 + n, f"{9000 + n}_probe", f"ALTER TABLE votes ADD COLUMN probe{n} text;")
    holder, migrator = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    answers, latencies = [], []
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.fetchval("SELECT count(*) FROM votes")
        migrating = asyncio.create_task(
            apply_pending(migrator, [*read_migrations(), probe], policy)
        )
        started = time.monotonic()
        i = 0
        while time.monotonic() - started < HOLD:
            t = time.perf_counter()
            r = await client.post(
                f"/v1/polls/{poll['id']}/votes",
                json={"choices": [poll["options"][0]["id"]]},  # type: ignore[index]
                headers={"Cookie": f"pv=r{n}-{i}", "Origin": "http://testserver"},
            )
            latencies.append(time.perf_counter() - t)
            answers.append(r.status_code)
            i += 1
        await transaction.rollback()
        t = time.perf_counter()
        await migrating
        return answers, latencies, time.perf_counter() - t
    finally:
        await holder.close()
        await migrator.close()


async def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="civicpoll-migration-wait-"))
    pg, redis = (
        EmbeddedPostgres(scratch / "pg", free_port()),
        EmbeddedRedis(scratch / "redis", free_port()),
    )
    pg.start()
    redis.start()
    try:
        con = await asyncpg.connect(pg.dsn)
        await apply_schema(con)
        await con.close()
        settings = Settings.from_env(
            {
                "DATABASE_URL": pg.dsn,
                "REDIS_URL": redis.url,
                "SECRET_KEY": "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
                "PUBLIC_URL": "http://testserver",
                "ACCESS_LOG": "false",
                "LOG_LEVEL": "error",
            }
        )
        async with LifespanManager(
            create_app(settings), startup_timeout=60, shutdown_timeout=60
        ) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                from service.identity.principal import SCOPES, create_token

                con = await asyncpg.connect(pg.dsn)
                _, token = await create_token(con, settings.secret_key, list(SCOPES), None)
                await con.close()
                c.headers["Authorization"] = f"Bearer {token}"
                r = await c.post(
                    "/v1/admin/sites",
                    json={
                        "slug": "b",
                        "name": "B",
                        "rate_per_ip_per_minute": 1000,
                        "burst_per_ip": 1000,
                        "rate_per_network_per_minute": 10000,
                        "burst_per_network": 10000,
                    },
                )
                assert r.status_code == 201, r.text
                poll = (
                    await c.post(
                        "/v1/admin/polls",
                        json={"site": "b", "question": "Q?", "options": ["A", "B"]},
                    )
                ).json()
                await c.post(f"/v1/admin/polls/{poll['id']}/open")
                policies = {
                    "lock_timeout 2 s, retries": Policy(),
                    "no lock timeout": Policy(lock_timeout=0),
                }
                for n, (name, policy) in enumerate(policies.items()):
                    answers, lat, after = await one_round(c, pg.dsn, poll, policy, n)
                    codes = {code: answers.count(code) for code in sorted(set(answers))}
                    print(
                        f"{name:28} votes {len(answers):3} answers {codes}  latency median "
                        f"{statistics.median(lat) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms;"
                        f" migration done {after:.1f} s after the release"
                    )
    finally:
        redis.stop()
        pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
