"""The console's poll pages: the list, create and edit (with preview and embed codes),
and open / close / archive / delete behind a confirmation. Every change goes through the
admin service functions (service.admin.polls), which check and audit it."""

from __future__ import annotations

from typing import Any, get_args
from urllib.parse import quote, urlencode

from starlette.responses import Response

from service.admin import checks, polls, sites
from service.admin.schemas import CommentsMode, DedupeMode, Kind, Scale, Visibility
from service.console import pollform
from service.console.web import Page, console_page, redirect
from service.core.errors import BadRequest, Conflict, NotFound, ServiceError
from service.polls.access import checked_poll_id

PAGE_SIZE = 20
ACTIONS = ("open", "close", "archive", "delete")
_CHOICES = {
    "kinds": get_args(Kind),
    "visibilities": get_args(Visibility),
    "dedupe_modes": get_args(DedupeMode),
    "statuses": checks.POLL_STATUSES,
    "scales": get_args(Scale),
    "comment_modes": get_args(CommentsMode),
}


async def _totals(page: Page, ids: list[str]) -> dict[str, int]:
    rows = await page.svc.pool.fetch(
        "SELECT poll_id, count(*) AS n FROM votes WHERE poll_id = ANY($1) GROUP BY poll_id", ids
    )
    return {r["poll_id"]: r["n"] for r in rows}


async def _has_votes(page: Page, poll_id: str) -> bool:
    found: bool = await page.svc.pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM votes WHERE poll_id = $1)", poll_id
    )
    return found


@console_page()
async def home(page: Page) -> Response:
    assert page.session is not None
    if "polls:write" not in page.session.principal.scopes:
        return redirect("/console/moderation")
    return redirect("/console/polls")


@console_page("polls:write")
async def poll_list(page: Page) -> Response:
    assert page.session is not None
    query = page.request.query_params
    filters = {
        name: query.get(name) or None for name in ("search", "site", "status", "kind", "cursor")
    }
    try:
        found = await polls.list_polls(page.svc, page.session.principal, limit=PAGE_SIZE, **filters)
        problem = None
    except BadRequest as exc:
        found, problem = {"items": [], "next_cursor": None}, exc
    totals = await _totals(page, [p["id"] for p in found["items"]])
    next_url = None
    if found["next_cursor"]:
        kept = {k: v for k, v in filters.items() if v and k != "cursor"}
        next_url = "/console/polls?" + urlencode({**kept, "cursor": found["next_cursor"]})
    return page.render(
        "console_polls.html",
        400 if problem else 200,
        polls=found["items"],
        totals=totals,
        filters=filters,
        problem=problem,
        next_url=next_url,
        sites=await sites.list_sites(page.svc, page.session.principal),
        **_CHOICES,
    )


def _embed_codes(page: Page, poll: dict[str, Any]) -> dict[str, str]:
    base = page.svc.settings.public_url
    return {
        "snippet": poll["embed"]["snippet"],
        "iframe": poll["embed"]["iframe"],
        "oembed": f"{base}/oembed?url={quote(poll['embed']['url'], safe='')}",
        "image": f"{base}/v1/polls/{poll['id']}/results.svg",
    }


async def _form_page(
    page: Page,
    *,
    poll: dict[str, Any] | None,
    values: dict[str, Any],
    error: ServiceError | None = None,
    status: int = 200,
) -> Response:
    assert page.session is not None
    has_votes = poll is not None and await _has_votes(page, poll["id"])
    errors = {}
    if error is not None:
        errors[error.field or "_form"] = error.message
    return page.render(
        "console_poll.html",
        status,
        poll=poll,
        values=values,
        errors=errors,
        locked=pollform.locked_fields(has_votes),
        has_votes=has_votes,
        codes=_embed_codes(page, poll) if poll else None,
        saved=page.request.query_params.get("saved") == "1",
        sites=await sites.list_sites(page.svc, page.session.principal),
        actions=_actions_for(poll["status"]) if poll else (),
        **_CHOICES,
    )


def _actions_for(status: str) -> list[str]:
    allowed = [a for a, (_, sources) in polls.TRANSITIONS.items() if status in sources]
    return [*allowed, "delete"]


@console_page("polls:write")
async def poll_new(page: Page) -> Response:
    defaults = {
        "kind": "single",
        "results_visibility": "always",
        "dedupe_mode": "cookie",
        "dedupe_window_hours": 24,
        "comments": "off",
        "max_comments_per_voter": 1,
        "site": page.request.query_params.get("site", ""),
    }
    return await _form_page(page, poll=None, values=defaults)


@console_page("polls:write")
async def poll_create(page: Page) -> Response:
    assert page.session is not None
    try:
        created = await polls.create_poll(
            page.svc, page.session.principal, pollform.create_body(page.form)
        )
    except (BadRequest, Conflict, NotFound) as exc:
        values = pollform.sent_values(page.form)
        return await _form_page(page, poll=None, values=values, error=exc, status=400)
    return redirect(f"/console/polls/{created['id']}?saved=1")


@console_page("polls:write")
async def poll_edit(page: Page) -> Response:
    assert page.session is not None
    poll = await polls.get_poll(
        page.svc, page.session.principal, page.request.path_params["poll_id"]
    )
    return await _form_page(page, poll=poll, values=pollform.form_values(poll))


@console_page("polls:write")
async def poll_update(page: Page) -> Response:
    assert page.session is not None
    principal = page.session.principal
    poll_id = page.request.path_params["poll_id"]
    poll = await polls.get_poll(page.svc, principal, poll_id)  # 404 before reading the form
    try:
        await polls.update_poll(page.svc, principal, poll_id, pollform.update_body(page.form))
    except (BadRequest, Conflict) as exc:
        if exc.message == "the body changes nothing":
            return redirect(f"/console/polls/{poll_id}?saved=1")
        values = {**pollform.form_values(poll), **pollform.sent_values(page.form)}
        status = 409 if isinstance(exc, Conflict) else 400
        return await _form_page(page, poll=poll, values=values, error=exc, status=status)
    return redirect(f"/console/polls/{poll_id}?saved=1")


def _action(page: Page) -> str:
    action: str = page.request.path_params["action"]
    if action not in ACTIONS:
        raise NotFound("no such action")
    return action


@console_page("polls:write")
async def confirm_form(page: Page) -> Response:
    assert page.session is not None
    action = _action(page)
    poll = await polls.get_poll(
        page.svc, page.session.principal, page.request.path_params["poll_id"]
    )
    total = (await _totals(page, [poll["id"]])).get(poll["id"], 0)
    return page.render("console_confirm.html", poll=poll, action=action, total=total)


@console_page("polls:write")
async def confirm(page: Page) -> Response:
    assert page.session is not None
    principal = page.session.principal
    action = _action(page)
    poll_id = checked_poll_id(page.request.path_params["poll_id"])
    if action == "delete":
        await polls.delete_poll(page.svc, principal, poll_id, force=True)
        return redirect("/console/polls?deleted=1")
    await polls.change_status(page.svc, principal, poll_id, action)
    return redirect(f"/console/polls/{poll_id}?saved=1")
