"""The option for another opinion: its text is stored with the vote, in the same
transaction, and waits in the moderation queue; bad text is refused with its field."""

from __future__ import annotations

from typing import Any

from tests.conftest import PollMaker
from tests.voting.voter import vote

OPTIONS = ["Có", "Không", {"label": "Ý kiến khác", "other": True}]


async def _comments(state: Any, poll_id: str) -> list[Any]:
    return list(
        await state.pool.fetch(
            "SELECT c.body, c.state, c.reason, c.vote_id, v.voter_hash = c.voter_hash AS same"
            " FROM comments c JOIN votes v ON v.id = c.vote_id WHERE c.poll_id = $1",
            poll_id,
        )
    )


async def test_other_text_is_kept_with_its_vote(client, make_poll: PollMaker, state):
    poll = await make_poll(options=OPTIONS)
    other = poll["options"][2]
    assert other["other"] is True and "other" not in poll["options"][0]
    text = "Nên làm thí điểm ở một phường trước"
    r = await vote(client, poll, other["id"], other_text=text)
    assert r.status_code == 201, r.text
    assert r.json()["results"]["options"][2]["votes"] == 1  # the vote counts at once
    (row,) = await _comments(state, poll["id"])
    assert (row["body"], row["state"], row["same"]) == (text, "pending", True)


async def test_other_text_follows_the_filters_and_the_mode(client, make_poll, state):
    poll = await make_poll(options=OPTIONS, comments="postmoderated")
    other = poll["options"][2]["id"]
    assert (await vote(client, poll, other, other_text="Ý kiến rất hay")).status_code == 201
    assert (await vote(client, poll, other, other_text="xem www.spam.vn")).status_code == 201
    got = {r["body"]: (r["state"], r["reason"]) for r in await _comments(state, poll["id"])}
    assert got == {"Ý kiến rất hay": ("published", ""), "xem www.spam.vn": ("held", "link")}


async def test_bad_other_text_is_refused_and_counts_nothing(client, make_poll, state):
    poll = await make_poll(options=OPTIONS)
    yes, other = poll["options"][0]["id"], poll["options"][2]["id"]
    for choices, text in (
        ([yes], "chọn Có mà vẫn viết"),
        ([other], "x" * 1001),
        ([other], "có ký tự \x07 điều khiển"),
    ):
        r = await vote(client, poll, *choices, other_text=text)
        assert (r.status_code, r.json()["error"]["field"]) == (400, "other_text"), r.text
    assert await state.pool.fetchval("SELECT count(*) FROM votes") == 0
    assert await state.pool.fetchval("SELECT count(*) FROM comments") == 0


async def test_empty_other_text_is_a_plain_vote(client, make_poll, state):
    poll = await make_poll(options=OPTIONS)
    r = await client.post(
        f"/v1/polls/{poll['id']}/votes",
        data={"choice": poll["options"][2]["id"], "other_text": ""},
        headers={"Cookie": "pv=form-other"},
    )
    assert r.headers["location"].endswith("state=voted")
    assert await state.pool.fetchval("SELECT count(*) FROM comments") == 0


async def test_only_one_option_may_take_own_words(admin, site):
    body = {
        "site": site["slug"],
        "question": "?",
        "options": [{"label": "A", "other": True}, {"label": "B", "other": True}],
    }
    r = await admin.post("/v1/admin/polls", json=body)
    assert (r.status_code, r.json()["error"]["field"]) == (400, "options")


async def test_a_form_leaves_behind_the_text_of_an_option_not_chosen(client, make_poll, state):
    poll = await make_poll(options=OPTIONS)
    r = await client.post(
        f"/v1/polls/{poll['id']}/votes",
        data={"choice": poll["options"][0]["id"], "other_text": "viết rồi đổi ý"},
        headers={"Cookie": "pv=form-switcher"},
    )
    assert r.headers["location"].endswith("state=voted")
    assert await state.pool.fetchval("SELECT count(*) FROM votes") == 1
    assert await state.pool.fetchval("SELECT count(*) FROM comments") == 0
