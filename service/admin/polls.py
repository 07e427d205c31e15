"""Polls as an admin changes them: create, list, read, update (locked once votes exist),
open / close / archive, delete; every change audited and announced to the poll caches.
Service functions (no HTTP): the API's handlers and any other front end call these."""

from __future__ import annotations

from typing import Any

from service.admin import checks
from service.admin.columns import POLL_SETTABLE, set_clause
from service.admin.schemas import SAFE_AFTER_VOTES, OptionSpec, PollCreate, PollUpdate
from service.admin.sites import site_row
from service.admin.views import poll_audit_view, poll_view
from service.core.errors import BadRequest, Conflict
from service.feedback.scales import checked_scale
from service.identity.audit import audit
from service.identity.principal import Principal
from service.polls.access import checked_poll_id, poll_for
from service.polls.model import Poll, new_poll_id
from service.polls.store import insert_options, load_poll, load_polls
from service.services import Services
from service.storage.db import Conn
from service.voting.keys import drop_poll_keys

# Which status each action leads to, and from which statuses it may start.
TRANSITIONS = {
    "open": ("open", ("draft", "closed")),
    "close": ("closed", ("open",)),
    "archive": ("archived", ("draft", "open", "closed")),
}


# Fields whose JSON name is not their attribute's.
_API_NAMES = {"scale_range": "range"}


async def store_options(con: Conn, poll_id: str, options: checks.OptionSet) -> None:
    await insert_options(con, poll_id, options.labels, values=options.values, other=options.other)


async def _has_votes(con: Conn, poll_id: str) -> bool:
    found: bool = await con.fetchval(
        "SELECT EXISTS (SELECT 1 FROM votes WHERE poll_id = $1)", poll_id
    )
    return found


async def _locked_poll(con: Conn, poll_id: str, principal: Principal) -> Poll:
    """The poll, its row locked until the transaction ends, as `principal` may see it."""
    await con.execute("SELECT 1 FROM polls WHERE id = $1 FOR UPDATE", poll_id)
    return await poll_for(con, poll_id, principal)


async def _reloaded(con: Conn, poll_id: str) -> Poll:
    poll = await load_poll(con, poll_id)
    assert poll is not None  # written in this transaction, its row still locked
    return poll


async def create_poll(svc: Services, principal: Principal, body: PollCreate) -> dict[str, Any]:
    question = checks.question(body.question)
    description = checks.description(body.description)
    checked_scale(body.scale)
    low_label = checks.scale_label(body.low_label, "low_label")
    high_label = checks.scale_label(body.high_label, "high_label")
    checks.dedupe_window_hours(body.dedupe_window_hours)
    checks.int_in(body.max_comments_per_voter, "max_comments_per_voter", 1, 10)
    checks.window(body.opens_at, body.closes_at)
    async with svc.pool.acquire() as con, con.transaction():
        site = await site_row(con, body.site, principal)
        locale = body.locale or site["default_locale"]
        options, points = checks.poll_options(body.kind, body.options, body.scale_range, locale)
        low, high = checks.choice_bounds(
            body.kind, body.min_choices, body.max_choices, len(options.labels)
        )
        poll_id = new_poll_id()
        await con.execute(
            "INSERT INTO polls (id, site_id, question, description, kind, min_choices,"
            " max_choices, locale, results_visibility, dedupe_mode, dedupe_window_hours,"
            " opens_at, closes_at, scale, scale_range, low_label, high_label, comments,"
            " max_comments_per_voter) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
            " $12, $13, $14, $15, $16, $17, $18, $19)",
            poll_id,
            site["id"],
            question,
            description,
            body.kind,
            low,
            high,
            locale,
            body.results_visibility,
            body.dedupe_mode,
            body.dedupe_window_hours,
            body.opens_at,
            body.closes_at,
            body.scale,
            points,
            low_label,
            high_label,
            body.comments,
            body.max_comments_per_voter,
        )
        await store_options(con, poll_id, options)
        view = poll_view(await _reloaded(con, poll_id), svc.settings.public_url)
        await audit(
            con,
            principal,
            action="create",
            object_type="poll",
            object_id=poll_id,
            after=poll_audit_view(view),
        )
    await svc.polls.announce(poll_id)
    return view


async def list_polls(
    svc: Services,
    principal: Principal,
    *,
    site: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    search: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A page of polls, newest first: {"items": [...], "next_cursor": str | None};
    `search` finds words of the question, case aside."""
    limit = checks.int_in(limit, "limit", 1, 100)
    status = checks.poll_status(status)
    kind = checks.poll_kind(kind)
    pattern = checks.search_pattern(search)
    cursor_at, cursor_id = checks.decode_cursor(cursor)
    async with svc.pool.acquire() as con:
        site_id = None
        if site is not None:
            site_id = (await site_row(con, site, principal))["id"]
        ids = await con.fetch(
            "SELECT id, created_at FROM polls"
            " WHERE ($1::bigint[] IS NULL OR site_id = ANY($1))"
            " AND ($2::bigint IS NULL OR site_id = $2)"
            " AND ($3::text IS NULL OR status = $3)"
            " AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))"
            " AND ($7::text IS NULL OR kind = $7)"
            " AND ($8::text IS NULL OR question ILIKE $8)"
            " ORDER BY created_at DESC, id DESC LIMIT $6",
            principal.site_list,
            site_id,
            status,
            cursor_at,
            cursor_id,
            limit + 1,
            kind,
            pattern,
        )
        polls = await load_polls(con, [row["id"] for row in ids[:limit]])
    next_cursor = None
    if len(ids) > limit:
        last = ids[limit - 1]
        next_cursor = checks.encode_cursor(last["created_at"], last["id"])
    items = [poll_view(poll, svc.settings.public_url) for poll in polls]
    return {"items": items, "next_cursor": next_cursor}


async def get_poll(svc: Services, principal: Principal, poll_id: str) -> dict[str, Any]:
    async with svc.pool.acquire() as con:
        poll = await poll_for(con, poll_id, principal)
    return poll_view(poll, svc.settings.public_url)


async def update_poll(
    svc: Services, principal: Principal, poll_id: str, body: PollUpdate
) -> dict[str, Any]:
    given = body.given()
    if not given:
        raise BadRequest("the body changes nothing")
    poll_id = checked_poll_id(poll_id)
    public_url = svc.settings.public_url
    async with svc.pool.acquire() as con, con.transaction():
        poll = await _locked_poll(con, poll_id, principal)
        if poll.status == "archived":
            raise Conflict("an archived poll cannot change", code="archived")
        if await _has_votes(con, poll_id):
            given = _unlocked_changes(given, poll)
            if not given:  # nothing differs: nothing to write, nothing to audit
                return poll_view(poll, public_url)
        before = poll_view(poll, public_url)
        values = checks.poll_changes(given, poll)
        options = values.pop("options", None)
        if values:
            sets, args = set_clause(POLL_SETTABLE, values)
            await con.execute(
                f"UPDATE polls SET {sets}, updated_at = now() WHERE id = $1", poll_id, *args
            )
        if options is not None:
            await con.execute("DELETE FROM poll_options WHERE poll_id = $1", poll_id)
            await store_options(con, poll_id, options)
            await con.execute("UPDATE polls SET updated_at = now() WHERE id = $1", poll_id)
        view = poll_view(await _reloaded(con, poll_id), public_url)
        await audit(
            con,
            principal,
            action="update",
            object_type="poll",
            object_id=poll_id,
            before=poll_audit_view(before),
            after=poll_audit_view(view),
        )
    await svc.polls.announce(poll_id)
    return view


def _unlocked_changes(given: dict[str, Any], poll: Poll) -> dict[str, Any]:
    """The changes of a poll that has votes, once those that rewrite a field's current
    value are dropped; Conflict if any left would change how votes were cast or counted."""
    # Sending a field's current value back (a client that PATCHes its whole form)
    # changes nothing, so only real changes count against the lock.
    current = {
        "kind": poll.kind,
        "min_choices": poll.min_choices,
        "max_choices": poll.max_choices,
        "question": poll.question,
        "dedupe_mode": poll.dedupe_mode,
        "dedupe_window_hours": poll.dedupe_window_hours,
        "opens_at": poll.opens_at,
        "scale_range": poll.scale_range,
        "options": [(o.label, o.other) for o in poll.options],
    }
    given = dict(given)
    if "options" in given:
        given["options"] = [
            (o.label, o.other) if isinstance(o, OptionSpec) else (o, False)
            for o in given["options"]
        ]
    # Rewriting an equal value (options!) must not happen: it would give new option ids.
    changes = {f: v for f, v in given.items() if not (f in current and v == current[f])}
    locked = sorted(set(changes) - SAFE_AFTER_VOTES)
    if locked:
        field = _API_NAMES.get(locked[0], locked[0])
        raise Conflict(
            f"{field} cannot change once votes exist"
            f" (still editable: {', '.join(sorted(SAFE_AFTER_VOTES))})",
            field=field,
            code="has_votes",
        )
    return changes


async def change_status(
    svc: Services, principal: Principal, poll_id: str, action: str
) -> dict[str, Any]:
    """Apply one of TRANSITIONS' actions (open, close, archive) to the poll."""
    target, sources = TRANSITIONS[action]
    poll_id = checked_poll_id(poll_id)
    async with svc.pool.acquire() as con, con.transaction():
        poll = await _locked_poll(con, poll_id, principal)
        if poll.status not in sources:
            raise Conflict(
                f"a {poll.status} poll cannot be {target}",
                code="invalid_transition",
                field="status",
            )
        await con.execute(
            "UPDATE polls SET status = $2, updated_at = now() WHERE id = $1", poll_id, target
        )
        updated = await _reloaded(con, poll_id)
        await audit(
            con,
            principal,
            action=action,
            object_type="poll",
            object_id=poll_id,
            before={"status": poll.status},
            after={"status": target},
        )
    await svc.polls.announce(poll_id)
    return poll_view(updated, svc.settings.public_url)


async def open_poll(svc: Services, principal: Principal, poll_id: str) -> dict[str, Any]:
    return await change_status(svc, principal, poll_id, "open")


async def close_poll(svc: Services, principal: Principal, poll_id: str) -> dict[str, Any]:
    return await change_status(svc, principal, poll_id, "close")


async def archive_poll(svc: Services, principal: Principal, poll_id: str) -> dict[str, Any]:
    return await change_status(svc, principal, poll_id, "archive")


async def delete_poll(
    svc: Services, principal: Principal, poll_id: str, *, force: bool = False
) -> None:
    """Erase a draft; any other poll (and its votes) only with `force`."""
    poll_id = checked_poll_id(poll_id)
    async with svc.pool.acquire() as con, con.transaction():
        poll = await _locked_poll(con, poll_id, principal)
        if poll.status != "draft" and not force:
            raise Conflict(
                f"only drafts can be deleted; this poll is {poll.status}. Archive it, or"
                " delete with ?force=true to erase it and its votes",
                code="not_draft",
                field="force",
            )
        votes = await con.fetchval("SELECT count(*) FROM votes WHERE poll_id = $1", poll_id)
        await con.execute("DELETE FROM polls WHERE id = $1", poll_id)
        await audit(
            con,
            principal,
            action="delete",
            object_type="poll",
            object_id=poll_id,
            before=poll_audit_view(poll_view(poll, svc.settings.public_url)) | {"votes": votes},
        )
    await svc.polls.announce(poll_id)
    await drop_poll_keys(svc.redis, poll_id)
