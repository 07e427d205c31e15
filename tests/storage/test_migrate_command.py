"""`civicpoll migrate`, `--status` and `--dry-run` on databases behind and at head."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from service import cli
from service.core.settings import Settings
from service.storage.migrate import read_migrations
from tests.conftest import DatabaseMaker
from tests.storage.test_upgrades import released_schema

MIGRATIONS = read_migrations()
HEAD = MIGRATIONS[-1].version


@pytest.fixture
def command_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path) -> None:
    """The settings the command needs beside DATABASE_URL (set per test), no dev env file."""
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("SECRET_KEY", settings.secret_key.decode())
    monkeypatch.setattr(cli, "DEV_ENV", tmp_path / "no-such-env")


async def _behind(make_database: DatabaseMaker, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database made by the previous release (versions 1-5), the command pointed at it."""
    url = await make_database()
    con = await asyncpg.connect(url)
    try:
        await con.execute(released_schema("a4c86ca"))
    finally:
        await con.close()
    monkeypatch.setenv("DATABASE_URL", url)
    return url


async def test_status_lists_applied_and_pending_and_changes_nothing(
    command_env: None,
    make_database: DatabaseMaker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = await _behind(make_database, monkeypatch)
    await asyncio.to_thread(cli.main, ["migrate", "--status"])  # returns: exit status 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [
        *(["applied", m.name] for m in MIGRATIONS if m.version <= 5),
        *(["pending", m.name] for m in MIGRATIONS if m.version > 5),
    ]
    assert lines[-1] == f"schema at version 5, {HEAD - 5} pending"
    con = await asyncpg.connect(url)
    try:
        assert await con.fetchval("SELECT max(version) FROM schema_version") == 5
    finally:
        await con.close()


async def test_dry_run_prints_the_pending_sql_and_applies_none_of_it(
    command_env: None,
    make_database: DatabaseMaker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = await _behind(make_database, monkeypatch)
    await asyncio.to_thread(cli.main, ["migrate", "--dry-run"])
    out = capsys.readouterr().out
    pending = [m for m in MIGRATIONS if m.version > 5]
    for migration in pending:
        assert migration.sql.strip() in out
    assert "SET lock_timeout = '2000ms';" in out
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS comments_poll_time" in out
    assert "-- 0005" not in out  # what the database has is not run again
    con = await asyncpg.connect(url)
    try:
        assert await con.fetchval("SELECT max(version) FROM schema_version") == 5
    finally:
        await con.close()

    await asyncio.to_thread(cli.main, ["migrate"])
    assert capsys.readouterr().out.strip() == f"schema at version {HEAD}"
    await asyncio.to_thread(cli.main, ["migrate", "--status"])
    lines = capsys.readouterr().out.splitlines()
    assert all(line.startswith("applied") for line in lines[:-1])
    assert len(lines) - 1 == len(MIGRATIONS)
    await asyncio.to_thread(cli.main, ["migrate", "--dry-run"])
    assert capsys.readouterr().out.strip() == f"schema at version {HEAD}"
