"""The moderation queue tells own words from comments: `own_words`, the vote they came
with and the option they answer (admin API; the console shows the same)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import PollMaker
from tests.feedback.test_comments import comment, queue
from tests.voting.voter import vote

OPTIONS = ["Có", "Không", {"label": "Ý kiến khác", "other": True}]


async def test_own_words_name_their_vote_and_option(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker, state: Any
) -> None:
    poll = await make_poll(options=OPTIONS, comments="premoderated")
    other = poll["options"][2]
    assert (await vote(client, poll, other["id"], other_text="Thí điểm trước")).status_code == 201
    assert (await comment(client, poll, "Một bình luận riêng")).status_code == 202
    items = {c["body"]: c for c in (await queue(admin, poll))["items"]}
    own, plain = items["Thí điểm trước"], items["Một bình luận riêng"]
    vote_id = await state.pool.fetchval("SELECT id::text FROM votes WHERE poll_id = $1", poll["id"])
    assert (own["own_words"], own["vote_id"]) == (True, vote_id)
    assert own["option"] == {"id": other["id"], "label": "Ý kiến khác"}
    assert (plain["own_words"], plain["vote_id"], plain["option"]) == (False, None, None)
