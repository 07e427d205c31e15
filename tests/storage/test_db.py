"""The schema: numbered migrations applied at start and by `civicpoll migrate`, each once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from service.storage.db import apply_schema, migrate
from service.storage.migrate import read_migrations

SCHEMA_V1 = Path(__file__).parent.parent / "data" / "schema_v1.sql"
# Every migration the package carries, by number.
VERSIONS = [m.version for m in read_migrations()]
CURRENT_VERSION = max(VERSIONS)
DatabaseMaker = Callable[[], Awaitable[str]]


async def _tables(con: asyncpg.Connection) -> set[str]:
    rows = await con.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows}


async def test_fresh_database_gets_every_table_and_the_version(
    make_database: DatabaseMaker,
) -> None:
    con = await asyncpg.connect(await make_database())
    try:
        assert await apply_schema(con) == CURRENT_VERSION
        assert {
            "schema_version",
            "sites",
            "api_tokens",
            "polls",
            "poll_options",
            "audit_log",
            "votes",
            "comments",
            "comment_reports",
            "users",
            "user_sites",
            "console_sessions",
            "login_failures",
        } <= await _tables(con)
        versions = await con.fetch("SELECT version FROM schema_version ORDER BY version")
        assert [r["version"] for r in versions] == VERSIONS
    finally:
        await con.close()


async def test_applying_twice_changes_nothing(make_database: DatabaseMaker) -> None:
    con = await asyncpg.connect(await make_database())
    try:
        await apply_schema(con)
        await con.execute(
            "INSERT INTO sites (slug, name, voter_secret) VALUES ('hoan-kiem', 'HK', 's')"
        )
        assert await apply_schema(con) == CURRENT_VERSION
        assert await con.fetchval("SELECT count(*) FROM sites") == 1
        assert await con.fetchval("SELECT count(*) FROM schema_version") == len(VERSIONS)
    finally:
        await con.close()


async def test_concurrent_starts_do_not_collide(make_database: DatabaseMaker) -> None:
    url = await make_database()
    cons = [await asyncpg.connect(url) for _ in range(4)]
    try:
        versions = await asyncio.gather(*(apply_schema(c) for c in cons))
        assert versions == [CURRENT_VERSION] * 4
    finally:
        for c in cons:
            await c.close()


async def test_upgrade_from_version_1_keeps_rows(make_database: DatabaseMaker) -> None:
    con = await asyncpg.connect(await make_database())
    try:
        await con.execute(SCHEMA_V1.read_text(encoding="utf-8"))
        assert "votes" not in await _tables(con)
        site_id = await con.fetchval(
            "INSERT INTO sites (slug, name, voter_secret) VALUES ('hoan-kiem', 'Hoàn Kiếm', 's')"
            " RETURNING id"
        )
        await con.execute(
            "INSERT INTO polls (id, site_id, question, status) VALUES ('p1', $1, 'Có?', 'open')",
            site_id,
        )
        await con.execute(
            "INSERT INTO poll_options (poll_id, position, label)"
            " VALUES ('p1', 0, 'Có'), ('p1', 1, 'Không')"
        )
        await con.execute(
            "INSERT INTO api_tokens (token_hash, scopes) VALUES ('h', '{polls:read}')"
        )
        await con.execute(
            "INSERT INTO audit_log (actor, action, object_type, object_id)"
            " VALUES ('cli', 'create', 'poll', 'p1')"
        )

        assert await apply_schema(con) == CURRENT_VERSION

        site = await con.fetchrow("SELECT * FROM sites WHERE id = $1", site_id)
        assert site["name"] == "Hoàn Kiếm"
        # Version 2 columns arrive with their defaults on old rows.
        assert site["rate_per_ip_per_minute"] == 10
        assert site["require_widget_token"] is False
        assert site["allowlisted_networks"] == []
        assert await con.fetchval("SELECT question FROM polls WHERE id = 'p1'") == "Có?"
        labels = await con.fetch("SELECT label FROM poll_options ORDER BY position")
        assert [r["label"] for r in labels] == ["Có", "Không"]
        assert await con.fetchval("SELECT count(*) FROM api_tokens") == 1
        assert await con.fetchval("SELECT count(*) FROM audit_log") == 1
        # The new ledger works against the old poll.
        await con.execute(
            "INSERT INTO votes (id, poll_id, option_ids) VALUES (gen_random_uuid(), 'p1', '{1}')"
        )
        assert await con.fetchval("SELECT count(*) FROM votes") == 1
    finally:
        await con.close()


async def test_migrate_connects_by_url(make_database: DatabaseMaker) -> None:
    url = await make_database()
    assert await migrate(url) == CURRENT_VERSION
    assert await migrate(url) == CURRENT_VERSION


async def test_the_running_app_applied_the_schema(state: dict[str, object]) -> None:
    pool = state.pool
    assert isinstance(pool, asyncpg.Pool)
    assert await pool.fetchval("SELECT max(version) FROM schema_version") == CURRENT_VERSION


async def test_a_database_at_the_current_version_is_left_alone(
    make_database: DatabaseMaker,
) -> None:
    """A worker starting beside others that already serve must not take the schema's
    exclusive locks: here another transaction holds a lock that any ALTER TABLE of polls
    would wait for, and applying the schema again still finishes."""
    dsn = await make_database()
    con, busy = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        await apply_schema(con)
        async with busy.transaction():
            await busy.execute("LOCK TABLE polls, votes IN ROW EXCLUSIVE MODE")
            # Bounded only so that a regression fails instead of hanging.
            assert await asyncio.wait_for(apply_schema(con), 30) == CURRENT_VERSION
    finally:
        await con.close()
        await busy.close()
