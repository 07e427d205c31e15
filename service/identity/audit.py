"""The audit writer: every admin change written with who made it (the readers live in
admin/audit.py)."""

from __future__ import annotations

from typing import Any

from service.identity.principal import Principal
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
