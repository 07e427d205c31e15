"""Sites as an admin changes them: create, list, read, update; every change audited.
Service functions (no HTTP): the API's handlers and any other front end call these."""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg
from msgspec import UNSET

from service.admin import checks
from service.admin.columns import SITE_SETTABLE, set_clause
from service.admin.schemas import SiteCreate, SiteUpdate
from service.admin.views import site_audit_view, site_view
from service.core.errors import BadRequest, Conflict, NotFound
from service.identity.audit import audit
from service.identity.principal import Principal
from service.polls.cache import ALL
from service.polls.store import SITE_COLUMNS
from service.services import Services
from service.storage.db import Conn


def require_all_sites(principal: Principal) -> None:
    """Creating sites is for tokens of every site; to a site-scoped one it does not exist."""
    if not principal.all_sites:
        raise NotFound("no such route for a site-scoped token")


async def site_row(
    con: Conn, slug: str, principal: Principal, *, lock: bool = False
) -> asyncpg.Record:
    """The site's row as `principal` may see it, or NotFound (locked for update if asked)."""
    # A slug that cannot exist never reaches PostgreSQL (which refuses NUL bytes).
    row = None
    if checks.could_be_slug(slug):
        row = await con.fetchrow(
            f"SELECT {SITE_COLUMNS} FROM sites WHERE slug = $1" + (" FOR UPDATE" if lock else ""),
            slug,
        )
    # Another site's answer must be word for word that of a missing one.
    if row is None or not principal.sees(row["id"]):
        raise NotFound(f"no site {slug!r}", field="site")
    return row


async def create_site(svc: Services, principal: Principal, body: SiteCreate) -> dict[str, Any]:
    require_all_sites(principal)
    slug = checks.check_slug(body.slug)
    values = checks.site_values(body)
    async with svc.pool.acquire() as con, con.transaction():
        try:
            row = await con.fetchrow(
                "INSERT INTO sites (slug, name, allowed_origins, default_locale, voter_secret,"
                " rate_per_ip_per_minute, burst_per_ip, rate_per_network_per_minute,"
                " burst_per_network, allowlisted_networks, require_widget_token, theme, limits)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::cidr[], $11, $12, $13)"
                f" RETURNING {SITE_COLUMNS}",
                slug,
                values["name"],
                values["allowed_origins"],
                values["default_locale"],
                secrets.token_urlsafe(32),
                values["rate_per_ip_per_minute"],
                values["burst_per_ip"],
                values["rate_per_network_per_minute"],
                values["burst_per_network"],
                values["allowlisted_networks"],
                values["require_widget_token"],
                values["theme"],
                values.get("limits", {}),
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"site {slug!r} exists already", field="slug", code="exists") from None
        assert row is not None  # INSERT ... RETURNING gives the row
        view = site_view(row)
        await audit(
            con,
            principal,
            action="create",
            object_type="site",
            object_id=slug,
            after=site_audit_view(view),
        )
    return view


async def list_sites(svc: Services, principal: Principal) -> list[dict[str, Any]]:
    rows = await svc.pool.fetch(
        f"SELECT {SITE_COLUMNS} FROM sites WHERE $1::bigint[] IS NULL OR id = ANY($1)"
        " ORDER BY slug",
        principal.site_list,
    )
    return [site_view(r) for r in rows]


async def get_site(svc: Services, principal: Principal, slug: str) -> dict[str, Any]:
    async with svc.pool.acquire() as con:
        return site_view(await site_row(con, slug, principal))


async def update_site(
    svc: Services, principal: Principal, slug: str, body: SiteUpdate
) -> dict[str, Any]:
    values = checks.site_values(body)
    edits = body.add_origins is not UNSET or body.remove_origins is not UNSET
    if edits and body.allowed_origins is not UNSET:
        raise BadRequest(
            "send allowed_origins (the whole list) or add_origins/remove_origins, not both",
            field="allowed_origins",
        )
    if not values and not edits and not body.rotate_voter_secret:
        raise BadRequest("the body changes nothing")
    async with svc.pool.acquire() as con, con.transaction():
        # FOR UPDATE: two editors adding an origin each at once must both be kept.
        before = await site_row(con, slug, principal, lock=True)
        if edits:
            values["allowed_origins"] = checks.edited_origins(
                list(before["allowed_origins"]),
                add=[] if body.add_origins is UNSET else body.add_origins,
                remove=[] if body.remove_origins is UNSET else body.remove_origins,
            )
        if body.rotate_voter_secret:
            values["voter_secret"] = secrets.token_urlsafe(32)
        row = before
        if values:
            sets, args = set_clause(SITE_SETTABLE, values)
            updated = await con.fetchrow(
                f"UPDATE sites SET {sets}, updated_at = now() WHERE id = $1"
                f" RETURNING {SITE_COLUMNS}",
                before["id"],
                *args,
            )
            assert updated is not None  # the row is locked by this transaction's read
            row = updated
        view = site_view(row)
        await audit(
            con,
            principal,
            action="update",
            object_type="site",
            object_id=before["slug"],
            before=site_audit_view(site_view(before)),
            after=site_audit_view(view),
        )
    # Every poll of the site carries the site (origins, limits, theme): drop them all.
    await svc.polls.announce(ALL)
    return view
