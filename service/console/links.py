"""Signed dashboard links for console people. A view key names the API token that minted
it (revoking the token shuts its links), so each person gets a read-only token per site,
kept by hash only, listed on the People page and revoked when the person is disabled."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from service.console.users import link_token_label
from service.identity.links import view_key
from service.identity.principal import create_token
from service.services import Services


async def _link_token(svc: Services, user_id: int, site_id: int) -> int:
    label = link_token_label(user_id)
    async with svc.pool.acquire() as con, con.transaction():
        # One per person and site, made on first use (the lock keeps two tabs from racing).
        await con.execute("SELECT pg_advisory_xact_lock($1, $2)", 7_312_004, user_id)
        found: int | None = await con.fetchval(
            "SELECT id FROM api_tokens WHERE label = $1 AND site_id = $2 AND revoked_at IS NULL",
            label,
            site_id,
        )
        if found is not None:
            return found
        token_id, _ = await create_token(
            con, svc.settings.secret_key, ["polls:read"], site_id, label
        )
        return token_id


async def dashboard_link(
    svc: Services, user_id: int, site_id: int, poll_id: str, hours: int
) -> tuple[str, datetime]:
    """The poll's dashboard URL with a key valid for `hours`, and when it expires."""
    token_id = await _link_token(svc, user_id, site_id)
    expires_at = int(time.time()) + hours * 3600
    key = view_key(svc.settings.secret_key, f"poll:{poll_id}", expires_at, token_id)
    url = f"{svc.settings.public_url}/dashboard/{poll_id}?key={key}"
    return url, datetime.fromtimestamp(expires_at, UTC)
