"""PostgreSQL: the connection pool and the schema."""

from __future__ import annotations

import json
import re
from importlib.resources import files
from typing import Any

import asyncpg

# schema.sql at the top of the repository is the one source; this package carries it (a
# symlink in the tree, the file itself in the wheel) so an installed service can migrate.
SCHEMA_PATH = files("service.storage").joinpath("schema.sql")
# Any constant works; it only keeps two starting processes from migrating at once.
_MIGRATION_LOCK = 7_312_001


# What `pool.acquire()` and `asyncpg.connect()` give: both run queries the same way.
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


async def _init_connection(con: asyncpg.Connection) -> None:
    await con.set_type_codec("jsonb", encoder=_to_json, decoder=json.loads, schema="pg_catalog")


def _to_json(value: Any) -> str:
    # Audit rows hold timestamps; ISO strings are what a reader of the log wants.
    return json.dumps(value, default=str, ensure_ascii=False)


async def _no_session_state(con: asyncpg.Connection) -> None:
    """Release without asyncpg's default reset query (unlock advisory locks, CLOSE ALL,
    UNLISTEN *, RESET ALL): a round trip on every release, and this service leaves no
    such session state behind. asyncpg still rolls back an open transaction first."""


async def create_pool(dsn: str, size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=_init_connection,
        reset=_no_session_state,
        command_timeout=10,
        # Fail fast when the server is down instead of hanging the request.
        timeout=3,
    )
    assert pool is not None
    return pool


_VERSION_MARK = re.compile(r"INSERT INTO schema_version \(version\) VALUES \((\d+)\)")


async def apply_schema(con: Conn, sql: str | None = None) -> int:
    """Apply schema.sql (idempotent, additive) and return the schema version.

    A database already at the file's version is left alone: the file's ALTER TABLEs take
    exclusive locks even when they change nothing, and a worker starting beside others
    that already serve (``--workers``, a rolling restart) would then deadlock with them."""
    sql = SCHEMA_PATH.read_text(encoding="utf-8") if sql is None else sql
    wanted = max((int(v) for v in _VERSION_MARK.findall(sql)), default=0)
    async with con.transaction():
        await con.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        if await _version(con) < wanted or wanted == 0:
            await con.execute(sql)
    return await _version(con)


async def _version(con: Conn) -> int:
    if await con.fetchval("SELECT to_regclass('schema_version') IS NULL"):
        return 0
    version: int | None = await con.fetchval("SELECT max(version) FROM schema_version")
    return version or 0


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection outside the pool (the command line), with the pool's type codecs."""
    con = await asyncpg.connect(dsn)
    await _init_connection(con)
    return con


async def migrate(dsn: str) -> int:
    con = await asyncpg.connect(dsn)
    try:
        return await apply_schema(con)
    finally:
        await con.close()
