"""Comments as readers write, read and report them: admitted by the site's limits, held by
the filters, stored durably before the answer, one per voter unless the poll allows more."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from service.core import cursor as cursors
from service.core.errors import BadRequest, Conflict, Forbidden, NotFound, RateLimited, Unavailable
from service.core.invisible import shows_nothing
from service.core.validation import clean_text
from service.feedback.filters import fingerprint
from service.feedback.intake import first_state, recent_texts
from service.feedback.schemas import MAX_BODY, MAX_NAME, CommentBody
from service.identity.request import Hashes
from service.polls.model import Poll
from service.storage.db import Conn
from service.voting.keys import comment_keys, report_keys

# A network writing more than this many comments on one poll within the window is
# held for review as a burst (votes have their own, far higher, limits).
BURST_COMMENTS = 5
BURST_WINDOW_SECONDS = 600
# Reports that take a published comment out of view for review: from this many readers on
# as many networks (/24, /64), each network counted once (docs/security/reports.md).
REPORTS_TO_HOLD = 3
# One network (/24, /64) may write this many readers' quotas of comments on one poll: an
# office or a household shares a network, a reader rotating addresses within it does not
# get fresh quotas (docs/security/reports.md).
NETWORK_QUOTA_READERS = 10
PAGE_DEFAULT, PAGE_MAX = 20, 50

_SCRIPT = resources.files("service.feedback").joinpath("comment.lua").read_text("utf-8")


@dataclass(frozen=True, slots=True)
class Author:
    """Who writes or reports, as keyed hashes only (identity's Hashes), whether the site's
    limits apply to them, and whether they came without a reader cookie."""

    hashes: Hashes
    limited: bool
    page_url: str | None
    fresh: bool = False  # no cookie: the quota knows this reader by address, not by id


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
        seen = await self._admitted(poll, author, comment_keys, "comments")
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
                    author.hashes.voter,
                    author.hashes.address,
                    author.hashes.network,
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

    async def _admitted(
        self,
        poll: Poll,
        author: Author,
        keys: Callable[[str, str, str], list[str]],
        what: str,
    ) -> int:
        """Spend the writer's rate budget (comment or report keys, one limiter script);
        the network's comments (or reports) in the burst window."""
        site = poll.site
        ip_interval = max(1, 60_000 // site.rate_per_ip_per_minute)
        net_interval = max(1, 60_000 // site.rate_per_network_per_minute)
        try:
            verdict, figure = await self._admit(
                keys=keys(poll.id, author.hashes.address, author.hashes.network),
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
                f"{what} cannot be taken right now; please try again",
                code="unavailable",
                retry_after=2,
            ) from exc
        if verdict:
            seconds = max(1, -(-int(figure) // 1000))
            whom = "your address" if verdict == 1 else "your network"
            raise RateLimited(
                f"too many {what} from {whom}; please try again later",
                field="address" if verdict == 1 else "network",
                retry_after=seconds,
                headers={"Retry-After": str(seconds)},
            )
        return int(figure)

    @staticmethod
    async def _check_quota(con: Conn, poll: Poll, author: Author) -> None:
        """One comment per reader (or the poll's max), as the poll's dedupe mode knows
        readers, and NETWORK_QUOTA_READERS readers' worth per network: a reader without a
        cookie is known by their address (an IPv6 /64), so dropping the cookie gives no
        fresh quota. Serialised per network and reader, so two at once cannot both pass."""
        mode = poll.dedupe_mode
        by_voter = mode in ("cookie", "cookie_ip", "verified") and not author.fresh
        by_ip = mode in ("ip", "cookie_ip") or (mode != "none" and author.fresh)
        if not (by_voter or by_ip):
            return
        hashes = author.hashes
        # Network first, then reader: every transaction takes them in this order.
        for lock_on in (f"net:{hashes.network}", hashes.voter if by_voter else hashes.address):
            await con.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{poll.id}:{lock_on}"
            )
        row = await con.fetchrow(
            "SELECT count(*) FILTER (WHERE ($2 AND voter_hash = $3) OR ($4 AND ip_hash = $5))"
            " AS reader, count(*) FILTER (WHERE network_hash = $6) AS network"
            " FROM comments WHERE poll_id = $1 AND vote_id IS NULL"
            " AND ((voter_hash = $3 OR ip_hash = $5) OR network_hash = $6)",
            poll.id,
            by_voter,
            hashes.voter,
            by_ip,
            hashes.address,
            hashes.network,
        )
        assert row is not None  # an aggregate always answers one row
        many = poll.max_comments_per_voter
        if row["reader"] >= many:
            raise Conflict(
                "you have already commented on this poll"
                if many == 1
                else f"you have already written {many} comments on this poll",
                code="already_commented",
            )
        if author.limited and row["network"] >= many * NETWORK_QUOTA_READERS:
            raise Conflict(
                "your network has written as many comments on this poll as it may",
                code="already_commented",
                field="network",
            )

    async def report(self, poll: Poll, comment_id: str, reason: str, author: Author) -> None:
        """A reader's report of a published comment: within the report limits of the
        address and network; held once REPORTS_TO_HOLD networks have reported it."""
        cid = checked_comment_id(comment_id)
        await self._admitted(poll, author, report_keys, "reports")
        try:
            async with asyncio.timeout(5), self._pool.acquire() as con, con.transaction():
                await _record_report(con, poll, cid, reason, author.hashes)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise Unavailable(
                "your report could not be stored; please try again",
                code="unavailable",
                retry_after=2,
            ) from exc


async def _record_report(
    con: Conn, poll: Poll, cid: uuid.UUID, reason: str, hashes: Hashes
) -> None:
    row = await con.fetchrow(
        "SELECT state FROM comments WHERE id = $1 AND poll_id = $2 FOR UPDATE", cid, poll.id
    )
    if row is None or row["state"] != "published":
        raise NotFound("no such comment")
    added = await con.fetchval(
        "INSERT INTO comment_reports (comment_id, voter_hash, network_hash, reason)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
        cid,
        hashes.voter,
        hashes.network,
        reason,
    )
    if added is None:
        return  # this reader reported it already: one report each
    # A network counts once, whatever number of readers (or fresh cookies) it brings.
    networks: int = await con.fetchval(
        "SELECT count(DISTINCT network_hash) FROM comment_reports WHERE comment_id = $1",
        cid,
    )
    await con.execute("UPDATE comments SET reports = $2 WHERE id = $1", cid, networks)
    if networks >= REPORTS_TO_HOLD:
        await con.execute(
            "UPDATE comments SET state = 'held', reason = 'reports', previous_state = state,"
            " detail = $2, updated_at = now() WHERE id = $1",
            cid,
            f"readers on {networks} networks reported it",
        )
        await con.execute(
            "INSERT INTO audit_log (actor, action, object_type, object_id, before, after)"
            " VALUES ('system:reports', 'comment.hold', 'comment', $1, $2, $3)",
            str(cid),
            {"state": "published"},
            {"state": "held", "reason": "reports"},
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


def checked_comment_id(raw: str) -> uuid.UUID:
    try:
        if len(raw) > 36:
            raise ValueError
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("no such comment") from None


def encode_cursor(created_at: datetime, comment_id: uuid.UUID) -> str:
    return cursors.encode_cursor(created_at, comment_id)


def decode_cursor(raw: str | None) -> tuple[datetime | None, str | None]:
    return cursors.decode_cursor(raw, cursors.UUID)
