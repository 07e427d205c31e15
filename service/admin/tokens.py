"""API tokens as an admin manages them: list, issue (the secret shown once), revoke; each
change audited. Service functions (no HTTP) for the console and any other front end."""

from __future__ import annotations

from typing import Any

from service.admin.sites import require_all_sites, site_row
from service.core.errors import BadRequest, NotFound
from service.identity.audit import audit
from service.identity.principal import Principal, create_token
from service.services import Services


async def list_tokens(svc: Services, principal: Principal) -> list[dict[str, Any]]:
    require_all_sites(principal)
    rows = await svc.pool.fetch(
        "SELECT t.id, t.label, t.scopes, s.slug AS site, t.created_at, t.last_used_at,"
        " t.revoked_at FROM api_tokens t LEFT JOIN sites s ON s.id = t.site_id"
        " ORDER BY t.revoked_at IS NOT NULL, t.id DESC"
    )
    return [dict(r) for r in rows]


async def issue_token(
    svc: Services, principal: Principal, *, scopes: list[str], site: str | None, label: str
) -> tuple[int, str]:
    """A new token (id, secret); the secret is returned once and never kept."""
    require_all_sites(principal)
    if len(label) > 200 or not label.isprintable():
        raise BadRequest("a label of up to 200 printable characters", field="label")
    async with svc.pool.acquire() as con, con.transaction():
        site_id = (await site_row(con, site, principal))["id"] if site else None
        try:
            token_id, token = await create_token(
                con, svc.settings.secret_key, scopes, site_id, label
            )
        except ValueError as exc:
            raise BadRequest(str(exc), field="scopes") from None
        await audit(
            con,
            principal,
            action="create",
            object_type="token",
            object_id=str(token_id),
            after={"scopes": sorted(scopes), "site": site, "label": label},
        )
    return token_id, token


async def revoke_token(svc: Services, principal: Principal, token_id: int) -> None:
    require_all_sites(principal)
    async with svc.pool.acquire() as con, con.transaction():
        done = await con.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
            token_id,
        )
        if done.endswith(" 0"):
            raise NotFound(f"no active token {token_id}")
        await audit(con, principal, action="revoke", object_type="token", object_id=str(token_id))
