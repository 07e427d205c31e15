"""The audit log: every admin change written with who made it, and the trail read back."""

from __future__ import annotations

from typing import Any

from service.admin.auth import Principal
from service.storage.db import Conn


async def audit(
    con: Conn,
    principal: Principal,
    *,
    action: str,
    object_type: str,
    object_id: str,
    before: Any = None,
    after: Any = None,
) -> None:
    await con.execute(
        "INSERT INTO audit_log"
        " (token_id, user_id, actor, action, object_type, object_id, before, after)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        principal.token_id,
        principal.user_id,
        principal.actor,
        action,
        object_type,
        object_id,
        before,
        after,
    )


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
