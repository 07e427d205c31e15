"""The audit log read back: a poll's trail and the search (identity/audit.py writes it)."""

from __future__ import annotations

from typing import Any

from service.identity.audit import audit
from service.storage.db import Conn

__all__ = ["audit", "poll_trail", "search_audit"]


async def poll_trail(con: Conn, poll_id: str) -> list[dict[str, Any]]:
    """A poll's audit entries, oldest first: when, who, what, and the values around it."""
    rows = await con.fetch(
        "SELECT at, actor, action, before, after FROM audit_log"
        " WHERE object_type = 'poll' AND object_id = $1 ORDER BY at, id",
        poll_id,
    )
    return [dict(r) for r in rows]


async def search_audit(
    con: Conn,
    *,
    object_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Audit entries, newest first, filtered by object (a poll id, a site slug), actor
    ("user:3", "token:7") and action; `before_id` pages on."""
    rows = await con.fetch(
        "SELECT id, at, actor, action, object_type, object_id, before, after FROM audit_log"
        " WHERE ($1::text IS NULL OR object_id = $1) AND ($2::text IS NULL OR actor = $2)"
        " AND ($3::text IS NULL OR action = $3) AND ($4::bigint IS NULL OR id < $4)"
        " ORDER BY id DESC LIMIT $5",
        object_id,
        actor,
        action,
        before_id,
        limit,
    )
    return [dict(r) for r in rows]
