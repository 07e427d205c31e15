"""The embed page's comments section: what it shows, a page of published comments read
through a short per-process memo (a viral page costs PostgreSQL a read every few
seconds, not one per reader), and the words for a comment form's outcome (`?comment=`)."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import asyncpg

from service.core.errors import ServiceError
from service.core.i18n import format_time, gettext
from service.feedback.comments import published_page
from service.polls.model import Poll
from service.widget.view import View

# The form path's ?comment= codes and the catalog message of each; other codes get the
# generic error. "published" and "pending" are the two happy outcomes.
COMMENT_MESSAGES = {
    "published": "comment_published",
    "pending": "comment_pending",
    "rate_limited": "rate_limited",
    "poll_closed": "comment_closed",
    "poll_not_open": "poll_not_open",
    "comments_off": "comment_closed",
    "too_many_comments": "comment_limit",
    "comment_limit": "comment_limit",
    "already_commented": "comment_limit",
    "unavailable": "unavailable",
    "invalid": "comment_error",
    "comment_empty": "comment_empty",
    "bad_origin": "bad_origin",
    "bad_token": "token",
    "token_expired": "token",
    "token_required": "token",
}
PAGE_SIZE = 10
_STORE_FAULTS = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    ConnectionError,
    TimeoutError,
    OSError,
)
log = logging.getLogger("civicpoll.widget")
_MAX_CURSOR = 200


def comment_message(code: str | None) -> str | None:
    if not code:
        return None
    return COMMENT_MESSAGES.get(code, "comment_error")


def plausible_cursor(cursor: str | None) -> str | None:
    """A cursor from the query string worth asking the store about, else None (the first
    page): the store checks it; this only keeps junk out of the memo."""
    if cursor is None or not (0 < len(cursor) <= _MAX_CURSOR and cursor.isascii()):
        return None
    return cursor if cursor.isprintable() else None


class PublishedComments:
    """Pages of published comments by (poll, cursor), each kept `max_age` seconds; cleared
    whole when full, like the other memos."""

    def __init__(self, max_age: float = 2.0, limit: int = 4096) -> None:
        self._max_age = max_age
        self._limit = limit
        self._pages: dict[tuple[str, str | None], tuple[float, dict[str, Any]]] = {}

    async def page(
        self, pool: asyncpg.Pool, poll_id: str, cursor: str | None, fresh: bool = False
    ) -> dict[str, Any] | None:
        """The page, read anew when `fresh` (a reader who just wrote one sees it). None
        while PostgreSQL cannot answer: the poll page still shows, without its comments
        section (writing one would fail the same way), and recovers on the next read."""
        now = time.monotonic()
        key = (poll_id, cursor)
        kept = self._pages.get(key)
        if kept is not None and now - kept[0] < self._max_age and not fresh:
            return kept[1]
        try:
            page = await published_page(pool, poll_id, cursor=cursor, limit=PAGE_SIZE)
        except ServiceError:
            if cursor is None:
                raise
            # A cursor that is no longer (or never was) valid: the first page instead.
            return await self.page(pool, poll_id, None, fresh)
        except _STORE_FAULTS:
            log.warning("comments unreadable for the embed page", extra={"poll_id": poll_id})
            return None
        if len(self._pages) >= self._limit:
            self._pages.clear()
        self._pages[key] = (now, page)
        return page


def comments_section(
    poll: Poll,
    view: View,
    phase: str,
    comments: dict[str, Any] | None,
    comment_note: str | None,
) -> dict[str, Any] | None:
    """What the page's comments section shows (None: no section): the form while the poll
    is open, the outcome of the reader's last comment, a page of published comments and
    the link to the next."""
    if comments is None or poll.comments == "off":
        return None
    locale = view.locale
    query = f"{view.query}&" if view.query else ""
    items = [
        {
            "id": c["id"],
            "name": c.get("name") or gettext(locale, "anonymous"),
            "body": c["body"],
            "at": at.isoformat() if (at := _moment(c["created_at"])) else "",
            "time_text": format_time(at, locale) if at else "",
        }
        for c in comments["items"]
    ]
    cursor = comments.get("next_cursor")
    return {
        # After a comment went in, a poll taking one per reader shows no second form.
        "form": phase == "open"
        and not (comment_note in _COMMENT_HAPPY and poll.max_comments_per_voter == 1),
        "action": f"/v1/polls/{poll.id}/comments" + (f"?{view.query}" if view.query else ""),
        "premoderated": poll.comments == "premoderated",
        "entries": items,
        "cursor": cursor or "",
        "more_href": (
            f"/embed/{poll.id}?{query}" + urlencode({"view": "comments", "cursor": cursor})
            if cursor
            else None
        ),
        "message": gettext(locale, comment_note) if comment_note else None,
        "message_error": comment_note is not None and comment_note not in _COMMENT_HAPPY,
    }


_COMMENT_HAPPY = ("comment_published", "comment_pending")


def _moment(value: object) -> datetime | None:
    """A comment's time: a datetime from the store, or ISO text from JSON."""
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
