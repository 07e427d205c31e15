"""The PostgreSQL connection budget: `processes * DB_POOL_SIZE` must fit the server's
max_connections, less the slots it keeps for superusers and a few for migrations, backups
and a person with psql. Checked once at `civicpoll serve`, before any worker starts, so
that a budget that cannot fit stops with one line instead of workers failing under load."""

from __future__ import annotations

import asyncpg

# Slots left for `civicpoll migrate`, pg_dump, monitoring and a person at psql.
RESERVE = 5


class ConnectionBudgetError(RuntimeError):
    """The workers' pools cannot all fit the server's connection limit."""


def needed(processes: int, pool_size: int) -> int:
    return processes * pool_size


async def server_capacity(database_url: str) -> int:
    """Connections the service may use on this server: max_connections less the
    superusers' reserved slots and our RESERVE."""
    con = await asyncpg.connect(database_url, timeout=5)
    try:
        limit = int(await con.fetchval("SHOW max_connections"))
        reserved = int(await con.fetchval("SHOW superuser_reserved_connections"))
    finally:
        await con.close()
    return limit - reserved - RESERVE


async def check_connection_budget(database_url: str, processes: int, pool_size: int) -> int:
    """Raise ConnectionBudgetError naming the figures when the pools cannot fit; return
    the capacity otherwise."""
    capacity = await server_capacity(database_url)
    want = needed(processes, pool_size)
    if want > capacity:
        raise ConnectionBudgetError(
            f"{processes} worker(s) × DB_POOL_SIZE {pool_size} = {want} PostgreSQL connections,"
            f" but the server allows {capacity} (max_connections less reserved slots and"
            f" {RESERVE} kept for migrations and psql): lower --workers or DB_POOL_SIZE,"
            " or raise max_connections"
        )
    return capacity
