"""The moderation queue as moderators work it: list comments by poll or site and state,
move them between states (every move reversible, with a reason and an audit row), count
them per state. Service functions (no HTTP): the admin API and the console call these."""

from __future__ import annotations

import re
import uuid
from typing import Any

from service.admin.sites import site_row
from service.core.errors import BadRequest, NotFound
from service.feedback.comments import STATES, decode_cursor, encode_cursor
from service.feedback.schemas import MAX_BULK
from service.identity.audit import audit
from service.identity.principal import Principal
from service.polls.access import poll_for
from service.services import Services
from service.storage.db import Conn

# Each action and the state it leads to; "restore" goes back to the state before the
# last move (a comment never moved goes back to pending).
ACTIONS = {
    "approve": "published",
    "reject": "rejected",
    "hold": "held",
    "spam": "spam",
    "restore": None,
}
_REASON = re.compile(r"[a-z][a-z0-9_]{0,39}")

# The networks that reported a comment, as the first 8 hex digits of their poll-scoped
# keyed hash: enough to tell three networks from one and to match the author's, never an
# address (docs/security/reports.md).
REPORT_NETWORK_DIGITS = 8
_COLUMNS = (
    "c.id, c.poll_id, c.vote_id, c.body, c.name, c.state, c.reason, c.detail, c.reports,"
    " c.page_url, c.created_at, c.updated_at,"
    f" ARRAY(SELECT DISTINCT left(r.network_hash, {REPORT_NETWORK_DIGITS})"
    " FROM comment_reports r WHERE r.comment_id = c.id AND r.network_hash IS NOT NULL"
    " ORDER BY 1) AS report_networks"
)


# Own words arrive with a vote, for the option marked "other": the queue names that
# option so a moderator reads the text as an answer, not as a comment of its own.
_OWN_WORDS_OPTION = (
    " LEFT JOIN LATERAL (SELECT o.id AS option_id, o.label AS option_label"
    " FROM votes v JOIN poll_options o ON o.id = ANY(v.option_ids) AND o.other"
    " WHERE v.id = c.vote_id ORDER BY o.position LIMIT 1) ow ON true"
)


def _view(row: Any) -> dict[str, Any]:
    view = dict(row)
    view["id"] = str(view["id"])
    view["vote_id"] = str(view["vote_id"]) if view["vote_id"] else None
    view["name"] = view["name"] or None
    view["own_words"] = view["vote_id"] is not None
    if "option_id" in view:
        option_id, label = view.pop("option_id"), view.pop("option_label")
        view["option"] = {"id": str(option_id), "label": label} if option_id else None
    return view


def _checked_state(state: str | None) -> str | None:
    if state is not None and state not in STATES:
        raise BadRequest(f"state must be one of {', '.join(STATES)}", field="state")
    return state


async def _scope(
    con: Conn, principal: Principal, poll_id: str | None, site: str | None
) -> tuple[str | None, list[int] | None]:
    """The poll id or the site ids to list, each checked against what `principal` may see
    (neither given: every site the principal works on)."""
    if poll_id is not None:
        await poll_for(con, poll_id, principal)
        return poll_id, None
    if site is not None:
        return None, [(await site_row(con, site, principal))["id"]]
    return None, principal.site_list


async def list_comments(
    svc: Services,
    principal: Principal,
    *,
    poll_id: str | None = None,
    site: str | None = None,
    state: str | None = None,
    reason: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """A page of comments, oldest first, with their state and reason, the next cursor and
    the counts per state of the same poll or site."""
    principal.require("polls:read")
    state = _checked_state(state)
    if reason is not None and not _REASON.fullmatch(reason):
        raise BadRequest("reason is a code like link or reports", field="reason")
    if not 1 <= limit <= 200:
        raise BadRequest("limit must be between 1 and 200", field="limit")
    at, after = decode_cursor(cursor)
    async with svc.pool.acquire() as con:
        poll_key, site_ids = await _scope(con, principal, poll_id, site)
        where = (
            "($1::text IS NULL OR c.poll_id = $1)"
            " AND ($2::bigint[] IS NULL OR p.site_id = ANY($2::bigint[]))"
        )
        rows = await con.fetch(
            f"SELECT {_COLUMNS}, p.question, ow.option_id, ow.option_label FROM comments c"
            f" JOIN polls p ON p.id = c.poll_id{_OWN_WORDS_OPTION}"
            f" WHERE {where} AND ($3::text IS NULL OR c.state = $3)"
            " AND ($4::text IS NULL OR c.reason = $4)"
            " AND ($5::timestamptz IS NULL OR (c.created_at, c.id) > ($5, $6::uuid))"
            " ORDER BY c.created_at, c.id LIMIT $7",
            poll_key,
            site_ids,
            state,
            reason,
            at,
            after,
            limit + 1,
        )
        count_rows = await con.fetch(
            "SELECT c.state, count(*) AS n FROM comments c JOIN polls p ON p.id = c.poll_id"
            f" WHERE {where} GROUP BY c.state",
            poll_key,
            site_ids,
        )
    counts = dict.fromkeys(STATES, 0)
    counts.update({r["state"]: r["n"] for r in count_rows})
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last["created_at"], last["id"])
    return {
        "items": [_view(r) for r in rows[:limit]],
        "next_cursor": next_cursor,
        "counts": counts,
    }


def _checked_ids(ids: list[str]) -> list[uuid.UUID]:
    if not 1 <= len(ids) <= MAX_BULK:
        raise BadRequest(f"give 1 to {MAX_BULK} comment ids", field="ids")
    checked = []
    for raw in ids:
        try:
            if len(raw) > 36:
                raise ValueError
            checked.append(uuid.UUID(raw))
        except ValueError:
            raise BadRequest(f"{raw[:40]!r} is not a comment id", field="ids") from None
    return list(dict.fromkeys(checked))


async def moderate(
    svc: Services,
    principal: Principal,
    ids: list[str],
    action: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Move the comments to the action's state, all or none; each move audited.
    An id this principal may not see is reported missing, like an unknown one."""
    principal.require("comments:moderate")
    if action not in ACTIONS:
        raise BadRequest(f"action must be one of {', '.join(ACTIONS)}", field="action")
    if reason is not None and not _REASON.fullmatch(reason):
        raise BadRequest("reason is a short code like offensive or off_topic", field="reason")
    wanted = _checked_ids(ids)
    moved: list[dict[str, Any]] = []
    async with svc.pool.acquire() as con, con.transaction():
        rows = await con.fetch(
            f"SELECT {_COLUMNS}, c.previous_state, p.site_id FROM comments c"
            " JOIN polls p ON p.id = c.poll_id WHERE c.id = ANY($1::uuid[])"
            " ORDER BY c.created_at, c.id FOR UPDATE OF c",
            wanted,
        )
        found = {r["id"]: r for r in rows if principal.sees(r["site_id"])}
        missing = [i for i in wanted if i not in found]
        if missing:
            raise NotFound(f"no such comment: {missing[0]}", field="ids")
        for cid in wanted:
            row = found[cid]
            target = ACTIONS[action] or row["previous_state"] or "pending"
            why = reason or f"moderator_{action}"
            after = await con.fetchrow(
                "UPDATE comments SET state = $2, reason = $3, detail = '', previous_state = $4,"
                f" updated_at = now() WHERE id = $1 RETURNING {_COLUMNS.replace('c.', '')}",
                cid,
                target,
                why,
                row["state"],
            )
            await audit(
                con,
                principal,
                action=f"comment.{action}",
                object_type="comment",
                object_id=str(cid),
                before={"state": row["state"], "reason": row["reason"]},
                after={"state": target, "reason": why, "poll_id": row["poll_id"]},
            )
            moved.append(_view(after))
    return {"items": moved}


async def state_counts(
    svc: Services, principal: Principal, *, poll_id: str | None = None, site: str | None = None
) -> dict[str, int]:
    """Comments per moderation state, of one poll, one site or all a principal sees."""
    page = await list_comments(svc, principal, poll_id=poll_id, site=site, limit=1)
    counts: dict[str, int] = page["counts"]
    return counts
