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
        "INSERT INTO audit_log (token_id, actor, action, object_type, object_id, before, after)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        principal.token_id,
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
