"""PostgreSQL: the connection pool, single connections, and applying the schema."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

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


async def apply_schema(con: Conn) -> int:
    """Apply the pending migrations (storage/migrate.py) and return the schema version.

    The name is the one callers (start-up, the command line, tests, benchmarks) have used
    since the schema was one file; the work is the migration runner's."""
    # Imported here: the runner needs this module's Conn, and this module stays its base.
    from service.storage.migrate import applied_versions, apply_pending

    await apply_pending(con)
    return max(await applied_versions(con), default=0)


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection outside the pool (the command line), with the pool's type codecs."""
    con = await asyncpg.connect(dsn)
    await _init_connection(con)
    return con


async def migrate(dsn: str) -> int:
    """Migrate over a connection of its own: no pool's command timeout cuts short an index
    that takes minutes to build."""
    con = await asyncpg.connect(dsn)
    try:
        return await apply_schema(con)
    finally:
        await con.close()
