"""The console's Placements page of a site: which poll each page URL (exact or prefix)
gets; add, remove, and "which poll would this URL get?". Through service.placements."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from service.admin import sites
from service.console.web import Page, console_page, redirect
from service.core.errors import BadRequest, NotFound, ServiceError
from service.core.http import encode_json
from service.core.validation import decode
from service.placements import admin
from service.placements.schemas import PlacementCreate


async def _page(
    page: Page, slug: str, *, error: ServiceError | None = None, status: int = 200
) -> Response:
    assert page.session is not None
    site, placements, polls = await admin.placement_page(page.svc, page.session.principal, slug)
    test_url = page.request.query_params.get("url", "").strip()
    answer: dict[str, Any] | None = None
    if test_url:
        try:
            poll_id = await page.svc.placements.lookup(slug, test_url)
            answer = {"poll": next((p for p in polls if p["id"] == poll_id), {"id": poll_id})}
        except ServiceError as exc:
            answer = {"none": exc.code}
    return page.render(
        "console_placements.html",
        status,
        site=site,
        placements=placements,
        polls=polls,
        test_url=test_url,
        answer=answer,
        errors={(error.field or "_form"): error.message} if error else {},
        values=page.form,
        saved=page.request.query_params.get("saved") == "1",
    )


@console_page("polls:write")
async def placement_sites(page: Page) -> Response:
    """The sites whose placements the person may change: straight to the one, if one."""
    assert page.session is not None
    found = await sites.list_sites(page.svc, page.session.principal)
    if len(found) == 1:
        return redirect(f"/console/sites/{found[0]['slug']}/placements")
    return page.render("console_placement_sites.html", sites=found)


@console_page("polls:write")
async def placements(page: Page) -> Response:
    return await _page(page, page.request.path_params["slug"])


@console_page("polls:write")
async def placement_change(page: Page) -> Response:
    assert page.session is not None
    slug = page.request.path_params["slug"]
    form = page.form
    try:
        if form.get("part") == "add":
            priority = form.get("priority").strip() or "0"
            if not priority.lstrip("-").isdigit() or len(priority) > 5:
                raise BadRequest(page.t["placement_priority_number"], field="priority")
            body = {"match": form.get("match").strip(), "poll_id": form.get("poll_id")}
            await admin.create_placement(
                page.svc,
                page.session.principal,
                slug,
                decode(encode_json({**body, "priority": int(priority)}), PlacementCreate),
            )
        elif form.get("part") == "remove":
            await admin.delete_placement(page.svc, page.session.principal, form.get("id"))
        else:
            raise NotFound("no such form")
    except BadRequest as exc:
        return await _page(page, slug, error=exc, status=400)
    return redirect(f"/console/sites/{slug}/placements?saved=1")
