"""Placements in PostgreSQL: the SQL of the feature, and nothing else."""

from __future__ import annotations

import asyncpg

from service.placements.rules import Placement
from service.storage.db import Conn

_COLUMNS = "id, poll_id, match, priority, created_at"
# At most this many placements a site: the lookup walks a site's prefixes per page view.
MAX_PER_SITE = 1000


def _placement(row: asyncpg.Record) -> Placement:
    return Placement(row["id"], row["poll_id"], row["match"], row["priority"], row["created_at"])


async def site_placements(con: Conn | asyncpg.Pool, site_id: int) -> list[Placement]:
    rows = await con.fetch(
        f"SELECT {_COLUMNS} FROM placements WHERE site_id = $1"
        " ORDER BY priority DESC, created_at DESC, id DESC",
        site_id,
    )
    return [_placement(r) for r in rows]


async def poll_site_id(con: Conn, poll_id: str) -> int | None:
    site_id: int | None = await con.fetchval("SELECT site_id FROM polls WHERE id = $1", poll_id)
    return site_id


async def count_for_site(con: Conn, site_id: int) -> int:
    count: int = await con.fetchval("SELECT count(*) FROM placements WHERE site_id = $1", site_id)
    return count


async def insert_placement(
    con: Conn, site_id: int, poll_id: str, match: str, priority: int
) -> Placement:
    row = await con.fetchrow(
        "INSERT INTO placements (site_id, poll_id, match, priority) VALUES ($1, $2, $3, $4)"
        f" RETURNING {_COLUMNS}",
        site_id,
        poll_id,
        match,
        priority,
    )
    assert row is not None  # INSERT ... RETURNING gives the row
    return _placement(row)


async def placement_site(con: Conn, placement_id: int) -> tuple[Placement, int, str] | None:
    """A placement with its site's id and slug, locked for deletion."""
    row = await con.fetchrow(
        f"SELECT p.{_COLUMNS.replace(', ', ', p.')}, p.site_id, s.slug FROM placements p"
        " JOIN sites s ON s.id = p.site_id WHERE p.id = $1 FOR UPDATE OF p",
        placement_id,
    )
    return None if row is None else (_placement(row), row["site_id"], row["slug"])


async def delete_placement(con: Conn, placement_id: int) -> None:
    await con.execute("DELETE FROM placements WHERE id = $1", placement_id)


async def site_lookup_row(con: Conn | asyncpg.Pool, slug: str) -> asyncpg.Record | None:
    """What the public lookup needs of a site: its id and allowed origins."""
    return await con.fetchrow("SELECT id, allowed_origins FROM sites WHERE slug = $1", slug)


async def site_polls(con: Conn, site_id: int, limit: int = 500) -> list[asyncpg.Record]:
    """A site's newest polls (id, question, status): what an editor picks a placement from."""
    return await con.fetch(
        "SELECT id, question, status FROM polls WHERE site_id = $1"
        " ORDER BY created_at DESC LIMIT $2",
        site_id,
        limit,
    )
