"""How a new text enters moderation, a comment or the own words given with a vote: its
first state, decided by the filters against the poll's recent texts of either kind."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from service.feedback.filters import screen
from service.polls.model import Poll
from service.storage.db import Conn

# The filters compare a new text with this many of the poll's latest texts.
RECENT_FOR_DUPLICATES = 50

# Own words are texts like comments: both are rows of `comments`, and both are read here.
_RECENT = """
SELECT p.id AS poll_id, c.body
FROM unnest($1::text[]) AS p(id)
CROSS JOIN LATERAL (
    SELECT body, created_at, id FROM comments WHERE poll_id = p.id
    ORDER BY created_at DESC, id DESC LIMIT $2
) AS c
ORDER BY p.id, c.created_at DESC, c.id DESC
"""


async def recent_texts(con: Conn, poll_ids: Iterable[str]) -> dict[str, list[str]]:
    """The latest texts of each poll, newest first, for the duplicate checks."""
    wanted = sorted(set(poll_ids))
    recent: dict[str, list[str]] = {poll_id: [] for poll_id in wanted}
    for row in await con.fetch(_RECENT, wanted, RECENT_FOR_DUPLICATES):
        recent[row["poll_id"]].append(row["body"])
    return recent


def first_state(poll: Poll, text: str, recent: Sequence[str] = ()) -> tuple[str, str, str]:
    """(state, reason, detail) of a new text: held when a filter says so, else public at
    once only on a post-moderated poll, else waiting for a moderator."""
    hold = screen(text, recent)
    if hold is not None:
        return "held", hold.reason, hold.detail
    if poll.comments == "postmoderated":
        return "published", "", ""
    return "pending", "", ""
