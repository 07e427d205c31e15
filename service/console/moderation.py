"""The console's moderation queue: comments of a site (or one poll) by state and reason,
counts per state, single and bulk actions, j/k/a/r from the keyboard (console.js).
Through service.feedback.moderation, which checks, moves and audits."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from service.admin import sites
from service.console.web import Page, console_page, redirect
from service.console.words import REASONS
from service.core.errors import BadRequest
from service.core.i18n import plural
from service.feedback import moderation
from service.feedback.comments import STATES

PAGE_SIZE = 50
# Bulk moves that take comments out of sight ask first (one at a time they do not: the
# keyboard's r works the queue, and every move can be restored).
CONFIRMED = ("reject", "spam")
_FILTERS = ("site", "poll", "state", "reason", "cursor")


def _back(target: str) -> str:
    """Back to the queue as it was filtered (only ever the queue itself)."""
    safe = target.startswith("/console/moderation?") and target.isascii() and target.isprintable()
    return target if safe else "/console/moderation"


@console_page("comments:moderate")
async def queue(page: Page) -> Response:
    assert page.session is not None
    principal = page.session.principal
    query = page.request.query_params
    filters = {name: query.get(name) or None for name in _FILTERS}
    own_sites = await sites.list_sites(page.svc, principal)
    if filters["site"] is None and filters["poll"] is None and not principal.all_sites:
        # A moderator of several sites works one site's queue at a time.
        filters["site"] = own_sites[0]["slug"] if own_sites else None
    if filters["state"] is None:
        filters["state"] = "pending"
    if filters["state"] == "all":
        filters["state"] = None
    problem = None
    try:
        found = await moderation.list_comments(
            page.svc,
            principal,
            poll_id=filters["poll"],
            site=filters["site"],
            state=filters["state"],
            reason=filters["reason"],
            cursor=filters["cursor"],
            limit=PAGE_SIZE,
        )
    except BadRequest as exc:
        found, problem = {"items": [], "next_cursor": None, "counts": {}}, exc
    kept = {k: v for k, v in filters.items() if v and k != "cursor"}
    next_url = None
    if found["next_cursor"]:
        next_url = "/console/moderation?" + urlencode({**kept, "cursor": found["next_cursor"]})
    by_state = {
        state: "/console/moderation?" + urlencode({**kept, "state": state})
        for state in (*STATES, "all")
    }
    return page.render(
        "console_moderation.html",
        400 if problem else 200,
        comments=found["items"],
        counts=found["counts"],
        filters={**filters, "state": filters["state"] or "all"},
        problem=problem,
        next_url=next_url,
        by_state=by_state,
        states=STATES,
        reasons=REASONS,
        actions=tuple(moderation.ACTIONS),
        sites=own_sites,
        here="/console/moderation?" + urlencode(kept),
    )


@console_page("comments:moderate")
async def act(page: Page) -> Response:
    assert page.session is not None
    form = page.form
    one = form.get("one")
    if one:
        comment_id, _, action = one.partition(":")
        ids = [comment_id]
    else:
        ids, action = form.getlist("ids"), form.get("action")
        if action in CONFIRMED and ids and not page.confirmed:
            return page.ask(
                title=page.t[f"moderate_{action}"],
                message=plural(page.lang, f"console_confirm_bulk_{action}", len(ids)),
                button=page.t[f"moderate_{action}"],
                back=_back(form.get("back")),
            )
    await moderation.moderate(page.svc, page.session.principal, ids, action)
    return redirect(_back(form.get("back")))
