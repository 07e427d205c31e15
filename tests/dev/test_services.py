"""Smoke tests for the wheel-based PostgreSQL / Redis used in development."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from service.dev.services import EmbeddedPostgres, EmbeddedRedis, free_port


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pg", free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rds(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis", free_port(), appendonly=True)
    try:
        yield server
    finally:
        server.stop()


async def test_postgres_and_redis_start_and_answer(
    pg: EmbeddedPostgres, rds: EmbeddedRedis
) -> None:
    dsn = pg.start()
    assert dsn == f"postgresql://postgres@127.0.0.1:{pg.port}/civicpoll"
    assert pg.pid is not None
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SELECT current_database()") == "civicpoll"
    finally:
        await conn.close()

    url = rds.start()
    assert url == f"redis://127.0.0.1:{rds.port}/0"
    client = aioredis.from_url(url)
    try:
        assert await client.ping() is True
    finally:
        await client.aclose()

    pg.stop()
    rds.stop()
    assert pg.pid is None
    assert rds.pid is None

    # Second start on an existing cluster: no initdb, database already there.
    assert pg.start() == dsn


async def test_redis_kill_and_restart_keeps_aof_data(rds: EmbeddedRedis) -> None:
    url = rds.start()
    client = aioredis.from_url(url)
    try:
        await client.set("civicpoll:test", "kept")
    finally:
        await client.aclose()

    old_pid = rds.pid
    rds.kill()
    assert rds.pid is None
    rds.restart()
    assert rds.pid is not None and rds.pid != old_pid

    client = aioredis.from_url(url)
    try:
        assert await client.get("civicpoll:test") == b"kept"
    finally:
        await client.aclose()
