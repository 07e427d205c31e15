"""Line breaks from the no-JavaScript forms: a browser sends a textarea's breaks as CRLF,
which the text rule (core/validation.clean_text) makes LF before it looks for control
characters, so a comment or own words of several lines is taken, not refused."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import PollMaker
from tests.feedback.test_comments import reader
from tests.feedback.test_own_words import OPTIONS

# What a browser puts on the wire for a textarea holding two lines and a third after a
# lone CR (old Mac text pasted in): application/x-www-form-urlencoded, breaks as %0D%0A.
LINES = "Dòng một\r\nDòng hai\rDòng ba"
STORED = "Dòng một\nDòng hai\nDòng ba"


async def test_a_form_comment_of_several_lines_is_taken(
    client: httpx.AsyncClient, make_poll: PollMaker, state: Any
) -> None:
    poll = await make_poll(comments="premoderated")
    r = await client.post(
        f"/v1/polls/{poll['id']}/comments", data={"body": LINES}, headers=reader()
    )
    assert r.status_code == 303
    assert r.headers["location"].endswith("comment=pending#comments"), r.headers["location"]
    assert await state.pool.fetchval("SELECT body FROM comments") == STORED


async def test_form_own_words_of_several_lines_are_kept_with_the_vote(
    client: httpx.AsyncClient, make_poll: PollMaker, state: Any
) -> None:
    poll = await make_poll(options=OPTIONS)
    r = await client.post(
        f"/v1/polls/{poll['id']}/votes",
        data={"choice": poll["options"][2]["id"], "other_text": LINES},
        headers={"Cookie": "pv=form-lines"},
    )
    assert r.headers["location"].endswith("state=voted"), r.headers["location"]
    assert await state.pool.fetchval("SELECT body FROM comments") == STORED


async def test_a_line_break_is_still_refused_where_text_is_one_line(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll(comments="premoderated")
    r = await client.post(
        f"/v1/polls/{poll['id']}/comments",
        json={"body": "Một dòng", "name": "Minh\r\nAdmin"},
        headers=reader(),
    )
    assert (r.status_code, r.json()["error"]["field"]) == (400, "name")
