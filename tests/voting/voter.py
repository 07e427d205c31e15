"""A test voter: votes POSTed the way a browser or a portal sends them, and the ledger's
count to check them against."""

from __future__ import annotations

import secrets
from typing import Any

import httpx


async def vote(
    client: httpx.AsyncClient,
    poll: dict[str, Any],
    *choices: str,
    cookie: str | None = None,
    ip: str | None = None,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> httpx.Response:
    """POST a vote; choices default to the first option; cookie/ip default to fresh ones."""
    h = {
        "X-Forwarded-For": ip or f"203.0.{secrets.randbelow(250)}.{secrets.randbelow(250)}",
        "Cookie": f"pv={cookie or secrets.token_urlsafe(12)}",
        **(headers or {}),
    }
    picked = list(choices) or [poll["options"][0]["id"]]
    return await client.post(
        f"/v1/polls/{poll['id']}/votes", json={"choices": picked, **body}, headers=h
    )


async def ledger_total(state: dict[str, Any], poll_id: str) -> int:
    total: int = await state.pool.fetchval("SELECT count(*) FROM votes WHERE poll_id = $1", poll_id)
    return total
