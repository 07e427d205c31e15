"""Comments as readers write, read and report them: admitted by the site's limits, held by
the filters, stored durably before the answer, one per voter unless the poll allows more."""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from service.core.errors import BadRequest, Conflict, Forbidden, NotFound, RateLimited, Unavailable
from service.core.invisible import shows_nothing
from service.core.validation import clean_text
from service.feedback.filters import fingerprint
from service.feedback.intake import first_state, recent_texts
from service.feedback.schemas import MAX_BODY, MAX_NAME, CommentBody
from service.polls.model import Poll
from service.storage.db import Conn
from service.voting.keys import comment_keys

# A network writing more than this many comments on one poll within the window is
# held for review as a burst (votes have their own, far higher, limits).
BURST_COMMENTS = 5
BURST_WINDOW_SECONDS = 600
# Distinct readers' reports that take a published comment out of view for review.
REPORTS_TO_HOLD = 3
PAGE_DEFAULT, PAGE_MAX = 20, 50

_SCRIPT = resources.files("service.feedback").joinpath("comment.lua").read_text("utf-8")


@dataclass(frozen=True, slots=True)
class Author:
    """Who writes, as keyed hashes only, and whether the site's limits apply to them."""

    voter_hash: str
    ip_hash: str
    network_hash: str
    limited: bool
    page_url: str | None


def checked_text(body: CommentBody) -> tuple[str, str]:
    if shows_nothing(body.body):
        # Blank, or only invisible characters (zero-width space, variation selectors): a
        # code of its own, so that the widget can say what is missing.
        raise BadRequest("body must not be empty", field="body", code="comment_empty")
    text = clean_text(body.body, "body", max_len=MAX_BODY, multiline=True)
    name = clean_text(body.name or "", "name", max_len=MAX_NAME, min_len=0)
    return text, name


def public_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"] or None,
        "body": row["body"],
        "created_at": row["created_at"],
    }


def check_open_for_comments(poll: Poll) -> None:
    if poll.comments == "off":
        raise Forbidden("this poll does not take comments", code="comments_off")
    phase = poll.phase(datetime.now(UTC))
    if phase == "closed":
        raise Conflict("this poll is closed", code="poll_closed")
    if phase == "not_open":
        raise Conflict("this poll is not open yet", code="poll_not_open")


class CommentDesk:
    """The comment path of one process: its Redis script and the PostgreSQL pool."""

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis) -> None:
        self._pool = pool
        self._admit = redis.register_script(_SCRIPT)

    async def submit(self, poll: Poll, text: str, name: str, author: Author) -> dict[str, Any]:
        """Store a comment and say where it stands: {"status": published|pending, ...}.
        Nothing is answered before the row is committed."""
        seen = await self._admitted(poll, author)
        try:
            async with asyncio.timeout(5), self._pool.acquire() as con, con.transaction():
                await self._check_quota(con, poll, author)
                recent = (await recent_texts(con, (poll.id,)))[poll.id]
                if seen > BURST_COMMENTS:
                    state, reason = "held", "burst"
                    detail = f"{seen} comments from one network in {BURST_WINDOW_SECONDS // 60} min"
                else:
                    state, reason, detail = first_state(poll, text, recent)
                row = await con.fetchrow(
                    "INSERT INTO comments (id, poll_id, body, name, state, reason, detail,"
                    " fingerprint, voter_hash, ip_hash, network_hash, page_url)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                    " RETURNING id, name, body, created_at, state",
                    uuid.uuid4(),
                    poll.id,
                    text,
                    name,
                    state,
                    reason,
                    detail,
                    fingerprint(text),
                    author.voter_hash,
                    author.ip_hash,
                    author.network_hash,
                    author.page_url,
                )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise Unavailable(
                "your comment could not be stored; please try again",
                code="unavailable",
                retry_after=2,
            ) from exc
        assert row is not None
        if row["state"] == "published":
            return {"status": "published", "comment": public_view(row)}
        # Held and pending read the same to the writer: a filter's verdict is the
        # moderator's business, and telling a spammer which filter caught them helps them.
        return {"status": "pending", "comment": {"id": str(row["id"])}}

    async def _admitted(self, poll: Poll, author: Author) -> int:
        """Spend the writer's rate budget; the network's comments in the burst window."""
        site = poll.site
        ip_interval = max(1, 60_000 // site.rate_per_ip_per_minute)
        net_interval = max(1, 60_000 // site.rate_per_network_per_minute)
        try:
            verdict, figure = await self._admit(
                keys=comment_keys(poll.id, author.ip_hash, author.network_hash),
                args=[
                    ip_interval,
                    ip_interval * (site.burst_per_ip - 1),
                    net_interval,
                    net_interval * (site.burst_per_network - 1),
                    1 if author.limited else 0,
                    BURST_WINDOW_SECONDS,
                ],
            )
        except (aioredis.RedisError, OSError) as exc:
            raise Unavailable(
                "comments cannot be taken right now; please try again",
                code="unavailable",
                retry_after=2,
            ) from exc
        if verdict:
            seconds = max(1, -(-int(figure) // 1000))
            whom = "your address" if verdict == 1 else "your network"
            raise RateLimited(
                f"too many comments from {whom}; please try again later",
                field="address" if verdict == 1 else "network",
                retry_after=seconds,
                headers={"Retry-After": str(seconds)},
            )
        return int(figure)

    @staticmethod
    async def _check_quota(con: Conn, poll: Poll, author: Author) -> None:
        """One comment per voter (or the poll's max), as the poll's dedupe mode knows
        voters; serialised per author so two at once cannot both pass."""
        mode = poll.dedupe_mode
        by_voter = mode in ("cookie", "cookie_ip", "verified")
        by_ip = mode in ("ip", "cookie_ip")
        if not (by_voter or by_ip):
            return
        lock_on = author.voter_hash if by_voter else author.ip_hash
        await con.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{poll.id}:{lock_on}"
        )
        written: int = await con.fetchval(
            "SELECT count(*) FROM comments WHERE poll_id = $1 AND vote_id IS NULL"
            " AND (($2 AND voter_hash = $3) OR ($4 AND ip_hash = $5))",
            poll.id,
            by_voter,
            author.voter_hash,
            by_ip,
            author.ip_hash,
        )
        if written >= poll.max_comments_per_voter:
            many = poll.max_comments_per_voter
            raise Conflict(
                "you have already commented on this poll"
                if many == 1
                else f"you have already written {many} comments on this poll",
                code="already_commented",
            )


async def published_page(
    pool: asyncpg.Pool, poll_id: str, cursor: str | None = None, limit: int = PAGE_DEFAULT
) -> dict[str, Any]:
    """A page of the poll's published comments, newest first, and the next page's cursor."""
    if not 1 <= limit <= PAGE_MAX:
        raise BadRequest(f"limit must be between 1 and {PAGE_MAX}", field="limit")
    at, after = decode_cursor(cursor)
    rows = await pool.fetch(
        "SELECT id, name, body, created_at FROM comments"
        " WHERE poll_id = $1 AND state = 'published'"
        " AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))"
        " ORDER BY created_at DESC, id DESC LIMIT $4",
        poll_id,
        at,
        after,
        limit + 1,
    )
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last["created_at"], last["id"])
    return {"items": [public_view(r) for r in rows[:limit]], "next_cursor": next_cursor}


async def state_counts(pool: asyncpg.Pool | Conn, poll_id: str) -> dict[str, int]:
    """The poll's comments per moderation state (every state present, zeros included)."""
    rows = await pool.fetch(
        "SELECT state, count(*) AS n FROM comments WHERE poll_id = $1 GROUP BY state", poll_id
    )
    counts = dict.fromkeys(STATES, 0)
    counts.update({r["state"]: r["n"] for r in rows})
    return counts


STATES = ("pending", "published", "held", "rejected", "spam")


async def report(pool: asyncpg.Pool, poll: Poll, comment_id: str, reason: str, voter: str) -> None:
    """A reader's report of a published comment; the third distinct reader's holds it."""
    cid = checked_comment_id(comment_id)
    async with pool.acquire() as con, con.transaction():
        row = await con.fetchrow(
            "SELECT state FROM comments WHERE id = $1 AND poll_id = $2 FOR UPDATE", cid, poll.id
        )
        if row is None or row["state"] != "published":
            raise NotFound("no such comment")
        added = await con.fetchval(
            "INSERT INTO comment_reports (comment_id, voter_hash, reason) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            cid,
            voter,
            reason,
        )
        if added is None:
            return  # this reader reported it already: one report each
        reports: int = await con.fetchval(
            "UPDATE comments SET reports = reports + 1 WHERE id = $1 RETURNING reports", cid
        )
        if reports >= REPORTS_TO_HOLD:
            await con.execute(
                "UPDATE comments SET state = 'held', reason = 'reports', previous_state = state,"
                " detail = $2, updated_at = now() WHERE id = $1",
                cid,
                f"{reports} readers reported it",
            )
            await con.execute(
                "INSERT INTO audit_log (actor, action, object_type, object_id, before, after)"
                " VALUES ('system:reports', 'comment.hold', 'comment', $1, $2, $3)",
                str(cid),
                {"state": "published"},
                {"state": "held", "reason": "reports"},
            )


def checked_comment_id(raw: str) -> uuid.UUID:
    try:
        if len(raw) > 36:
            raise ValueError
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("no such comment") from None


def encode_cursor(created_at: datetime, comment_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{comment_id}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(raw: str | None) -> tuple[datetime | None, uuid.UUID | None]:
    if raw is None:
        return None, None
    try:
        at, _, cid = base64.urlsafe_b64decode(raw.encode()).decode().partition("|")
        created_at = datetime.fromisoformat(at)
        if created_at.tzinfo is None or len(cid) != 36:
            raise ValueError
        return created_at, uuid.UUID(cid)
    except ValueError:
        raise BadRequest("cursor is not one this API gave out", field="cursor") from None
