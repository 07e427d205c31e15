"""A text entering moderation, a comment or own words with a vote: text that shows
nothing is refused naming its field, and one duplicate rule covers both kinds."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PollMaker
from tests.feedback.test_comments import comment, queue, reader
from tests.voting.voter import vote

OPTIONS = ["Có", "Không", {"label": "Ý kiến khác", "other": True}]
# Each shows nothing on screen; none is empty to a byte count.
INVISIBLE = [
    "\u200b",
    "\u200b\u200c\u200d\u2060\ufeff",
    "\u00ad\u00ad",  # soft hyphens
    "\ufe0f\ufe0f",  # variation selectors (combining marks, not format characters)
    "\u3164",  # Hangul filler (a letter, to Unicode)
    "\U000e0041\U000e0042",  # tag characters
    "\u2800 \u2800",  # blank Braille cells
    "\u034f",  # combining grapheme joiner
]


async def _texts(state: Any, poll_id: str) -> list[Any]:
    return list(
        await state.pool.fetch(
            "SELECT body, state, reason, vote_id IS NOT NULL AS own_words FROM comments"
            " WHERE poll_id = $1 ORDER BY created_at, id",
            poll_id,
        )
    )


@pytest.mark.parametrize("text", INVISIBLE)
async def test_own_words_of_invisible_characters_are_refused(
    client, make_poll: PollMaker, state, text: str
):
    poll = await make_poll(options=OPTIONS)
    r = await vote(client, poll, poll["options"][2]["id"], other_text=text)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "other_text"
    assert r.json()["error"]["code"] == "other_text_empty"
    assert await state.pool.fetchval("SELECT count(*) FROM votes") == 0
    assert await state.pool.fetchval("SELECT count(*) FROM comments") == 0


async def test_the_form_says_why_invisible_own_words_are_refused(client, make_poll, state):
    poll = await make_poll(options=OPTIONS)
    r = await client.post(
        f"/v1/polls/{poll['id']}/votes",
        data={"choice": poll["options"][2]["id"], "other_text": "\u200b\u200b"},
        headers={"Cookie": "pv=form-invisible"},
    )
    assert r.status_code == 303
    assert r.headers["location"].endswith("state=other_text_empty")
    page = await client.get(r.headers["location"])
    assert "chỉ có ký tự vô hình" in page.text  # the poll's locale is Vietnamese
    assert await state.pool.fetchval("SELECT count(*) FROM votes") == 0


@pytest.mark.parametrize("text", INVISIBLE)
async def test_comments_of_invisible_characters_are_refused(client, make_poll, state, text):
    poll = await make_poll(comments="premoderated")
    r = await comment(client, poll, text)
    assert (r.status_code, r.json()["error"]["field"]) == (400, "body"), r.text
    assert r.json()["error"]["code"] == "comment_empty"
    assert await state.pool.fetchval("SELECT count(*) FROM comments") == 0


async def test_the_comment_form_says_an_invisible_comment_is_empty(client, make_poll, state):
    poll = await make_poll(comments="premoderated")
    r = await client.post(
        f"/v1/polls/{poll['id']}/comments",
        data={"body": "\u200b\ufe0f"},
        headers={**reader(), "Origin": "http://testserver"},
    )
    assert r.status_code == 303, r.text
    assert "comment=comment_empty" in r.headers["location"]
    page = await client.get(r.headers["location"])
    assert "Vui lòng viết ý kiến trước khi gửi." in page.text
    assert await state.pool.fetchval("SELECT count(*) FROM comments") == 0


async def test_the_same_own_words_from_a_second_reader_are_held(client, make_poll, state):
    poll = await make_poll(options=OPTIONS, comments="postmoderated")
    other = poll["options"][2]["id"]
    text = "Nên làm thí điểm ở một phường trước khi làm cả thành phố"
    assert (await vote(client, poll, other, other_text=text)).status_code == 201
    # Another reader, the same words with a zero-width space and other capitals.
    again = "nên làm thí điểm ở một\u200b phường trước khi làm CẢ thành phố"
    assert (await vote(client, poll, other, other_text=again)).status_code == 201
    rows = await _texts(state, poll["id"])
    assert [(r["state"], r["reason"]) for r in rows] == [("published", ""), ("held", "duplicate")]


async def test_own_words_and_comments_are_duplicates_of_each_other(client, make_poll, state):
    poll = await make_poll(options=OPTIONS, comments="postmoderated", dedupe_mode="none")
    other = poll["options"][2]["id"]
    first = "Cần thêm xe buýt điện cho tuyến ven sông"
    assert (await comment(client, poll, first, reader())).status_code == 201
    assert (await vote(client, poll, other, other_text=first)).status_code == 201
    second = "Vỉa hè phải dành cho người đi bộ, không phải xe máy"
    assert (await vote(client, poll, other, other_text=second)).status_code == 201
    assert (await comment(client, poll, second + "!", reader())).status_code == 202
    rows = await _texts(state, poll["id"])
    assert [(r["own_words"], r["state"], r["reason"]) for r in rows] == [
        (False, "published", ""),
        (True, "held", "duplicate"),
        (True, "published", ""),
        (False, "held", "duplicate"),
    ]


async def test_a_held_duplicate_shows_in_the_queue(client, admin, make_poll):
    poll = await make_poll(options=OPTIONS, comments="premoderated")
    other = poll["options"][2]["id"]
    for _ in range(2):
        assert (await vote(client, poll, other, other_text="Ý kiến giống hệt")).status_code == 201
    (held,) = (await queue(admin, poll, state="held"))["items"]
    assert held["reason"] == "duplicate"
