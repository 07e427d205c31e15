"""The page a comment or own words are kept with: the site's own pages only (the rule is
core/urls.site_page_url, shared with votes); an off-site page is stored as no page."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import PollMaker
from tests.feedback.test_comments import comment, reader
from tests.feedback.test_own_words import OPTIONS

ON_SITE = "https://portal.example.vn/tin-tuc/bai-1"  # the site fixture's allowed origin
OFF_SITE = "https://evil.example/buy-now"


async def test_a_comment_keeps_only_an_on_site_page(
    client: httpx.AsyncClient, make_poll: PollMaker, state: Any
) -> None:
    poll = await make_poll(comments="premoderated")
    assert (await comment(client, poll, "Trên trang", page=ON_SITE)).status_code == 202
    assert (await comment(client, poll, "Trang lạ", page=OFF_SITE)).status_code == 202
    off_referer = reader() | {"Referer": OFF_SITE}
    assert (await comment(client, poll, "Referer lạ", headers=off_referer)).status_code == 202
    rows = await state.pool.fetch("SELECT body, page_url FROM comments ORDER BY body")
    assert {r["body"]: r["page_url"] for r in rows} == {
        "Trên trang": ON_SITE,
        "Trang lạ": None,
        "Referer lạ": None,
    }


async def test_own_words_keep_only_an_on_site_page(
    client: httpx.AsyncClient, make_poll: PollMaker, state: Any
) -> None:
    poll = await make_poll(options=OPTIONS)
    other = poll["options"][2]["id"]
    for page, text in ((ON_SITE, "Ý kiến một"), (OFF_SITE, "Ý kiến hai")):
        r = await client.post(
            f"/v1/polls/{poll['id']}/votes",
            json={"choices": [other], "other_text": text, "page": page},
            headers=reader(),
        )
        assert r.status_code == 201, r.text
    rows = await state.pool.fetch("SELECT body, page_url FROM comments")
    assert {r["body"]: r["page_url"] for r in rows} == {"Ý kiến một": ON_SITE, "Ý kiến hai": None}
