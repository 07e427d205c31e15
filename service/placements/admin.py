"""Placements as an admin changes them: add, list, remove; every change audited and
announced to the placement caches. Service functions (no HTTP): the API and the console
call these."""

from __future__ import annotations

from typing import Any

from service.admin.sites import site_row
from service.core.errors import BadRequest, NotFound
from service.identity.audit import audit
from service.identity.principal import Principal
from service.placements import store
from service.placements.rules import PREFIX, Placement, allowed, canonical_match
from service.placements.schemas import PlacementCreate
from service.services import Services


def placement_view(p: Placement, slug: str) -> dict[str, Any]:
    return {
        "id": p.id,
        "site": slug,
        "match": p.match,
        "kind": "prefix" if p.match.endswith(PREFIX) else "exact",
        "poll_id": p.poll_id,
        "priority": p.priority,
        "created_at": p.created_at,
    }


async def create_placement(
    svc: Services, principal: Principal, slug: str, body: PlacementCreate
) -> dict[str, Any]:
    async with svc.pool.acquire() as con, con.transaction():
        # FOR UPDATE: two editors adding at once must not pass the count together.
        site = await site_row(con, slug, principal, lock=True)
        match = canonical_match(body.match)
        if match is None:
            raise BadRequest(
                "match must be an http(s) page URL, or a prefix of one ending in *", field="match"
            )
        if not allowed(match, site["allowed_origins"]):
            raise BadRequest("match is not on one of the site's allowed origins", field="match")
        if await store.poll_site_id(con, body.poll_id) != site["id"]:
            raise BadRequest(f"the site has no poll {body.poll_id!r}", field="poll_id")
        if await store.count_for_site(con, site["id"]) >= store.MAX_PER_SITE:
            raise BadRequest(
                f"a site has at most {store.MAX_PER_SITE} placements",
                field="match",
                code="too_many_placements",
            )
        placement = await store.insert_placement(
            con, site["id"], body.poll_id, match, body.priority
        )
        view = placement_view(placement, slug)
        await audit(
            con,
            principal,
            action="create",
            object_type="placement",
            object_id=str(placement.id),
            after=view,
        )
    await svc.placements.announce(slug)
    return view


async def list_placements(svc: Services, principal: Principal, slug: str) -> list[dict[str, Any]]:
    """A site's placements, highest priority first, then newest."""
    async with svc.pool.acquire() as con:
        site = await site_row(con, slug, principal)
        return [placement_view(p, slug) for p in await store.site_placements(con, site["id"])]


async def delete_placement(svc: Services, principal: Principal, placement_id: str) -> None:
    missing = NotFound(f"no placement {placement_id!r}", field="placement")
    if not placement_id.isdigit() or len(placement_id) > 18:
        raise missing
    async with svc.pool.acquire() as con, con.transaction():
        found = await store.placement_site(con, int(placement_id))
        # Another site's placement is answered word for word as a missing one.
        if found is None or not principal.sees(found[1]):
            raise missing
        placement, _, slug = found
        await store.delete_placement(con, placement.id)
        view = placement_view(placement, slug)
        await audit(
            con,
            principal,
            action="delete",
            object_type="placement",
            object_id=str(placement.id),
            before=view,
        )
    await svc.placements.announce(slug)


async def placement_page(
    svc: Services, principal: Principal, slug: str
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """What the console's Placements page shows: the site, its placements (each with its
    poll's question and status) and the polls an editor may place."""
    async with svc.pool.acquire() as con:
        site = await site_row(con, slug, principal)
        placements = await store.site_placements(con, site["id"])
        polls = [dict(r) for r in await store.site_polls(con, site["id"])]
    by_id = {p["id"]: p for p in polls}
    views = [
        {**placement_view(p, slug), "poll": by_id.get(p.poll_id, {"id": p.poll_id})}
        for p in placements
    ]
    return {"slug": site["slug"], "name": site["name"]}, views, polls
