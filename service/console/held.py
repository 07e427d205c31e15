"""The console's held votes of a poll: the groups by network, reason and minute, and
release or discard of a selection (or all) behind a confirmation. Through
service.admin.held, which lists, moves and audits (with the person's id)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from starlette.responses import Response

from service.admin import held
from service.console.web import Page, console_page, redirect
from service.core.errors import BadRequest
from service.polls.access import checked_poll_id, poll_for
from service.storage.db import Conn

ACTIONS = ("release", "discard")
# One confirmation carries its ids in one field of a form body (64 KiB at most).
MAX_SELECTED = 1500
SHORT_NETWORK = 12  # characters of the network's keyed hash shown: enough to tell apart


async def held_count(con: Conn, poll_id: str) -> int:
    count: int = await con.fetchval(
        "SELECT count(*) FROM votes WHERE poll_id = $1 AND state = 'held'", poll_id
    )
    return count


def group_key(group: dict[str, Any]) -> str:
    """A group as a form names it: its network, reason and minute."""
    minute: datetime = group["minute"]
    return f"{group['network'] or ''}|{group['reason']}|{minute.isoformat()}"


def _poll_id(page: Page) -> str:
    return checked_poll_id(page.request.path_params["poll_id"])


async def _held_page(page: Page, status: int = 200, **extra: object) -> Response:
    assert page.session is not None
    principal = page.session.principal
    async with page.svc.pool.acquire() as con:
        poll = await poll_for(con, _poll_id(page), principal)
    listing = await held.list_held(page.svc, principal, poll.id)
    query = page.request.query_params
    done = query.get("done")
    number = query.get("n", "")
    notice = None
    if done in ACTIONS and number.isascii() and number.isdigit() and len(number) < 7:
        notice = page.t["held_done_" + done].format(n=int(number))
    labels = {option.id: option.label for option in poll.options}
    for group in listing["groups"]:
        group["key"] = group_key(group)
        group["short"] = (group["network"] or "")[:SHORT_NETWORK]
        for vote in group["votes"]:
            vote["labels"] = [labels.get(choice, choice) for choice in vote["choices"]]
    return page.render(
        "console_held.html",
        status,
        poll=poll,
        listing=listing,
        notice=notice,
        may_act="polls:write" in principal.scopes,
        **extra,
    )


@console_page("polls:read")
async def held_votes(page: Page) -> Response:
    return await _held_page(page)


def _action(page: Page) -> tuple[str, bool]:
    """("release" or "discard", all or not) from the button pressed."""
    sent = page.form.get("action")
    action, _, every = sent.partition("_")
    if action not in ACTIONS or every not in ("", "all"):
        raise BadRequest(
            "action must be release, discard, release_all or discard_all", field="action"
        )
    return action, every == "all"


def _ids(values: list[str], field: str) -> list[uuid.UUID]:
    try:
        return list(dict.fromkeys(uuid.UUID(v) for v in values))
    except ValueError:
        raise BadRequest("a held vote's id is a UUID", field=field) from None


@console_page("polls:write")
async def held_review(page: Page) -> Response:
    """Without `confirmed`: the confirmation of what the selection takes; with it, act."""
    assert page.session is not None
    principal = page.session.principal
    poll_id = _poll_id(page)
    action, every = _action(page)
    if page.form.get("confirmed") == "1":
        ids = None if every else _ids(page.form.get("ids").split(), "ids")
        if ids is not None and not 1 <= len(ids) <= MAX_SELECTED:
            raise BadRequest(page.t["held_too_many"].format(n=MAX_SELECTED), field="ids")
        done = await held.review_held(
            page.svc, principal, poll_id, held.HeldSelection(ids=ids, all=every), action
        )
        moved = len(done["ids"])
        return redirect(f"/console/polls/{poll_id}/held?done={action}&n={moved}")
    listing = await held.list_held(page.svc, principal, poll_id)
    if every:
        return page.render(
            "console_held_confirm.html",
            poll_id=poll_id,
            action=action,
            every=True,
            n=listing["total"],
            ids="",
        )
    chosen = set(page.form.getlist("group"))
    picked = [v for g in listing["groups"] if group_key(g) in chosen for v in g["votes"]]
    listed = {v["id"] for g in listing["groups"] for v in g["votes"]}
    # Only votes still held: one another editor took meanwhile drops out here.
    votes = [str(i) for i in _ids(page.form.getlist("vote"), "vote") if str(i) in listed]
    selected = list(dict.fromkeys([v["id"] for v in picked] + votes))
    if not selected:
        return await _held_page(page, 400, problem=page.t["held_nothing"])
    if len(selected) > MAX_SELECTED:
        return await _held_page(page, 400, problem=page.t["held_too_many"].format(n=MAX_SELECTED))
    return page.render(
        "console_held_confirm.html",
        poll_id=poll_id,
        action=action,
        every=False,
        n=len(selected),
        ids=" ".join(selected),
    )
