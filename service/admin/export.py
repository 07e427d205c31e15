"""The ledger export: a poll's vote rows, or its comments with their moderation states,
streamed from PostgreSQL as CSV or JSON lines."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg

from service.core.http import encode_json
from service.core.spreadsheet import csv_chunks

_EXPORT = (
    "SELECT id::text, cast_at, option_ids, voter_hash, ip_hash, network_hash, page_url,"
    " user_agent, state, hold_reason FROM votes WHERE poll_id = $1 ORDER BY cast_at, id"
)
COLUMNS = (
    "id",
    "cast_at",
    "option_ids",
    "voter_hash",
    "ip_hash",
    "network_hash",
    "page_url",
    "user_agent",
    "state",  # counted, held, released or discarded (README "Fair limits")
    "hold_reason",
)


_COMMENTS = (
    "SELECT id::text, created_at, vote_id::text, state, reason, name, body, reports,"
    " voter_hash, ip_hash, network_hash, page_url, updated_at FROM comments"
    " WHERE poll_id = $1 ORDER BY created_at, id"
)
COMMENT_COLUMNS = (
    "id",
    "created_at",
    "vote_id",
    "state",
    "reason",
    "name",
    "body",
    "reports",
    "voter_hash",
    "ip_hash",
    "network_hash",
    "page_url",
    "updated_at",
)


async def ledger_rows(pool: asyncpg.Pool, poll_id: str) -> AsyncIterator[tuple[object, ...]]:
    """The poll's votes in the order cast, one tuple of COLUMNS each, read by a cursor so a
    large ledger never sits in memory."""
    async with pool.acquire() as con, con.transaction():
        async for row in con.cursor(_EXPORT, poll_id, prefetch=500):
            yield (row[0], row[1].isoformat(), " ".join(map(str, row[2])), *row[3:])


async def comment_rows(pool: asyncpg.Pool, poll_id: str) -> AsyncIterator[tuple[object, ...]]:
    """The poll's comments, oldest first, one tuple of COMMENT_COLUMNS each."""
    async with pool.acquire() as con, con.transaction():
        async for row in con.cursor(_COMMENTS, poll_id, prefetch=500):
            yield (row[0], row[1].isoformat(), *row[2:12], row[12].isoformat())


def as_csv(
    rows: AsyncIterator[tuple[object, ...]], columns: tuple[str, ...] = COLUMNS
) -> AsyncIterator[str]:
    """A header line and the rows, formula-safe (core.spreadsheet), in chunks of ~32 KiB."""
    return csv_chunks(columns, rows)


async def as_json_lines(
    rows: AsyncIterator[tuple[object, ...]], columns: tuple[str, ...] = COLUMNS
) -> AsyncIterator[bytes]:
    """One JSON object a line, keyed by the columns."""
    async for row in rows:
        yield encode_json(dict(zip(columns, row, strict=True))) + b"\n"
