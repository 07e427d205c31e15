"""Each question kind on the embed page (widget/page.py, figures.py): scales as radio
groups with their labels, the own-words box, scale results, the comments section; all
text escaped, and every kind answered through the plain form (no JavaScript)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from service.widget.page import EmbedPages
from service.widget.view import parse_view

from .embedding import XSS, PollMaker, a_poll, fresh_token, set_counts

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def _form_post(client: httpx.AsyncClient, poll_id: str, body: str) -> httpx.Response:
    token = await fresh_token(client, poll_id)
    return await client.post(
        f"/v1/polls/{poll_id}/votes?locale=en", content=f"{body}&token={token}", headers=_FORM
    )


def _markup(html: str) -> str:
    """The page without its script's catalog (which holds every message)."""
    return html.split('<script type="application/json"')[0]


def _radios(html: str) -> list[str]:
    return re.findall(r'<input type="radio" name="rating" id="cp0-o\d+" value="(\d+)"', html)


async def test_stars_are_a_labelled_radio_group(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll(
        kind="rating", options=None, low_label="Rất tệ", high_label="Rất tốt", range=5
    )
    html = (await client.get(f"/embed/{poll['id']}")).text
    assert _radios(html) == ["1", "2", "3", "4", "5"] and 'name="choice"' not in html
    assert 'class="cp-scale cp-stars"' in html and html.count('class="cp-star"') == 5
    # Each star is read as "4 sao"; its number shows, the ends are named and described.
    assert '<span class="cp-sr">4 sao</span>' in html
    assert '<span id="cp0-low">Rất tệ</span><span id="cp0-high">Rất tốt</span>' in html
    assert 'value="1" required aria-describedby="cp0-low"' in html
    assert 'value="5" required aria-describedby="cp0-high"' in html
    assert "Chọn một mức từ 1 đến 5." in html
    en = (await client.get(f"/embed/{poll['id']}?locale=en")).text
    assert '<span class="cp-sr">1 star</span>' in en and '<span class="cp-sr">3 stars</span>' in en


async def test_number_nps_and_likert_scales(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    numbers = await make_poll(kind="rating", options=None, scale="number", range=10)
    html = (await client.get(f"/embed/{numbers['id']}?locale=en")).text
    assert _radios(html) == [str(n) for n in range(1, 11)] and "cp-number" in html
    assert '<span class="cp-pt-n">10</span>' in html and "cp-star" not in html
    nps = await make_poll(kind="nps", options=None)
    html = (await client.get(f"/embed/{nps['id']}")).text
    assert _radios(html) == [str(n) for n in range(11)] and "cp-number" in html
    assert '<span id="cp0-low">Không có khả năng</span>' in html
    assert '<span id="cp0-high">Rất có khả năng</span>' in html
    assert "Chọn một mức từ 0 đến 10." in html
    likert = await make_poll(kind="likert", options=None, range=7, locale="en")
    html = (await client.get(f"/embed/{likert['id']}")).text
    assert _radios(html) == [str(n) for n in range(1, 8)] and "cp-likert" in html
    assert '<span class="cp-pt-n">Somewhat agree</span>' in html
    vi = (await client.get(f"/embed/{likert['id']}?locale=vi")).text
    assert '<span class="cp-pt-n">Hoàn toàn đồng ý</span>' in vi


async def test_scale_labels_are_escaped(client: httpx.AsyncClient, make_poll: PollMaker) -> None:
    poll = await make_poll(kind="rating", options=None, low_label=XSS[:60], high_label="<b>x")
    html = (await client.get(f"/embed/{poll['id']}")).text
    assert "<script>alert" not in html and "<b>x" not in html and "&lt;b&gt;x" in html


async def test_every_scale_votes_through_the_plain_form_and_shows_its_figures(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll(kind="nps", options=None, results_visibility="always")
    r = await _form_post(client, poll["id"], "rating=9")
    assert r.status_code == 303 and r.headers["location"].endswith("state=voted"), r.text
    page = await client.get(r.headers["location"])
    html = _markup(page.text)
    assert 'id="cp0-msg" tabindex="-1">Thank you! You have voted.</p>' in html
    assert '<div data-stat="nps"><dt>NPS score</dt><dd>100</dd></div>' in html
    assert '<div data-stat="promoters"><dt>Promoters (9–10)</dt><dd>1</dd></div>' in html
    assert '<div data-stat="average"><dt>Average</dt><dd>9</dd></div>' in html
    for kind, fields, rating in (
        ("rating", {}, 4),
        ("rating", {"scale": "number", "range": 3}, 3),
        ("likert", {"range": 5}, 2),
    ):
        other = await make_poll(kind=kind, options=None, **fields)
        r = await _form_post(client, other["id"], f"rating={rating}")
        assert r.headers["location"].endswith("state=voted"), (kind, r.headers["location"])
    bad = await _form_post(client, other["id"], "rating=9")
    assert bad.headers["location"].endswith("state=invalid_rating")
    page = _markup((await client.get(bad.headers["location"])).text)
    assert (
        'cp-error" id="cp0-msg" tabindex="-1">That choice is not valid. Please try again.' in page
    )


async def test_scale_results_by_locale(
    client: httpx.AsyncClient, make_poll: PollMaker, state: Any
) -> None:
    poll = await make_poll(kind="rating", options=None)
    await set_counts(state, poll, [0, 1, 1, 2, 1])
    vi = (await client.get(f"/embed/{poll['id']}?view=results")).text
    assert '<span class="cp-label">4 sao</span> <span class="cp-pct">40%</span>' in vi
    assert '<div data-stat="average"><dt>Trung bình</dt><dd>3,6</dd></div>' in vi
    assert '<div data-stat="median"><dt>Trung vị</dt><dd>4</dd></div>' in vi
    assert "nps" not in re.sub(r"<script.*?</script>", "", vi, flags=re.S)
    empty = await make_poll(kind="nps", options=None)
    en = (await client.get(f"/embed/{empty['id']}?view=results&locale=en")).text
    assert '<div data-stat="nps"><dt>NPS score</dt><dd>–</dd></div>' in en
    assert '<div data-stat="average"><dt>Average</dt><dd>–</dd></div>' in en


async def test_own_words_box_is_in_the_form_without_a_script(
    client: httpx.AsyncClient, make_poll: PollMaker, state: Any
) -> None:
    poll = await make_poll(options=["Có", "Không", {"label": "Ý kiến khác", "other": True}])
    html = (await client.get(f"/embed/{poll['id']}")).text
    other = poll["options"][2]["id"]
    assert f'value="{other}" required data-other aria-controls="cp0-otherbox"' in html
    assert '<label for="cp0-other">Ý kiến của bạn' in html
    assert '<textarea id="cp0-other" name="other_text" maxlength="1000"' in html
    assert html.count("data-other") == 1
    r = await _form_post(client, poll["id"], f"choice={other}&other_text=N%C3%AAn+c%C3%B3+c%C3%A2y")
    assert r.headers["location"].endswith("state=voted"), r.headers["location"]
    async with state.pool.acquire() as con:
        row = await con.fetchrow(
            "SELECT body, vote_id FROM comments WHERE poll_id = $1", poll["id"]
        )
    assert row is not None and row["body"] == "Nên có cây" and row["vote_id"] is not None
    # An empty box (a form always sends it) is no text at all.
    first = poll["options"][0]["id"]
    r = await _form_post(client, poll["id"], f"choice={first}&other_text=")
    assert r.headers["location"].endswith("state=voted") or "already_voted" in r.headers["location"]


def _comments_page(poll: Any, comments: Any, **params: str) -> str:
    pages = EmbedPages("http://testserver", "http://testserver")
    page = pages.page(
        poll,
        parse_view(params, poll, "http://testserver"),
        phase="open",
        message=None,
        show_form=False,
        wants_results=True,
        results=None,
        comments=comments,
        comment_note=params.pop("note", None),
    )
    return page.body.decode()


def test_comments_section_escapes_and_pages() -> None:
    poll = a_poll(comments="premoderated")
    items = [
        {"id": "c1", "name": XSS[:60], "body": XSS, "created_at": "2026-12-01T08:00:00+00:00"},
        {
            "id": "c2",
            "name": "",
            "body": "dòng 1\ndòng 2",
            "created_at": "2026-12-01T07:00:00+00:00",
        },
    ]
    html = _comments_page(poll, {"items": items, "next_cursor": "abc"}, locale="en", wid="3")
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;q&#34;)&lt;/script&gt;" in html
    assert '<span class="cp-cname">Reader</span>' in html  # no name given
    assert '<time datetime="2026-12-01T08:00:00+00:00">1 December 2026, 15:00' in html
    assert 'id="cp3-cform"' in html and 'name="body"' in html and 'name="name"' in html
    assert 'action="/v1/polls/' + poll.id + '/comments?locale=en&amp;wid=3"' in html
    assert "Comments are reviewed before they appear." in html
    assert (
        'href="/embed/' + poll.id + '?locale=en&amp;wid=3&amp;view=comments&amp;cursor=abc"' in html
    )
    none = _comments_page(poll, {"items": [], "next_cursor": None})
    assert "Chưa có ý kiến nào được đăng." in none and "cmore" not in none
    off = _comments_page(a_poll(), {"items": items, "next_cursor": None})
    assert "cp-comments" not in off


async def test_comment_outcomes_are_one_readers_page(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll(comments="postmoderated")
    page = await client.get(f"/embed/{poll['id']}")
    assert f'href="/embed/{poll["id"]}?view=comments">Ý kiến bạn đọc</a>' in page.text
    shared = await client.get(f"/embed/{poll['id']}?view=comments&locale=en")
    assert shared.headers["cache-control"].startswith("public")
    assert 'id="cp0-cform"' in shared.text and 'name="token"' not in shared.text
    for code, words in (
        ("pending", "Thank you! Your comment will appear once a moderator approves it."),
        ("published", "Thank you! Your comment is published."),
        ("rate_limited", "Too many votes"),
        ("whatever", "Your comment could not be sent."),
    ):
        r = await client.get(f"/embed/{poll['id']}?view=comments&locale=en&comment={code}")
        assert r.headers["cache-control"] == "private, no-store", code
        assert f'tabindex="-1" role="status">{words}' in _markup(r.text), code
    # After a comment went in, no second form; after an error, the form with a token.
    done = (await client.get(f"/embed/{poll['id']}?view=comments&comment=pending")).text
    assert 'id="cp0-cform"' not in done
    again = (await client.get(f"/embed/{poll['id']}?view=comments&comment=invalid")).text
    assert 'id="cp0-cform"' in again and 'name="token"' in again


async def test_a_plain_form_comment_shows_after_approval_only(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker, state: Any
) -> None:
    """No JavaScript: the comment form posts, the redirect tells the reader what
    happened, and a premoderated comment is in the shared page only once approved."""
    poll = await make_poll(comments="premoderated")
    body = "body=C%E1%BA%A7n+th%C3%AAm+c%C3%A2y+xanh&name=Lan"
    r = await client.post(f"/v1/polls/{poll['id']}/comments?locale=en", content=body, headers=_FORM)
    assert r.status_code == 303, r.text
    assert r.headers["location"].endswith("comment=pending#comments")
    page = await client.get(r.headers["location"])
    assert 'role="status">Thank you! Your comment will appear once' in _markup(page.text)
    assert "Cần thêm cây xanh" not in page.text
    queue = await admin.get(f"/v1/admin/polls/{poll['id']}/comments?state=pending")
    comment_id = queue.json()["items"][0]["id"]
    r = await admin.post(f"/v1/admin/comments/{comment_id}/approve", json={"reason": "ok"})
    assert r.status_code == 200, r.text
    state.pages.comments._pages.clear()  # the page memo's few seconds, passed
    shared = await client.get(f"/embed/{poll['id']}?view=comments")
    assert shared.headers["cache-control"].startswith("public")
    assert (
        f'<li class="cp-c" data-comment="{comment_id}"><p class="cp-cmeta">'
        '<span class="cp-cname">Lan</span>'
    ) in shared.text
    assert '<p class="cp-cbody">Cần thêm cây xanh</p>' in shared.text


async def test_comments_page_by_cursor_without_a_script(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll(comments="postmoderated", max_comments_per_voter=10)
    # Twelve different opinions (near duplicates would be held by the filters).
    words = [
        "Cần thêm cây xanh ven hồ",
        "Nên mở rộng vỉa hè cho người đi bộ",
        "Giờ làm việc buổi tối rất tiện",
        "Bãi gửi xe quá chật vào cuối tuần",
        "Nhân viên hướng dẫn nhiệt tình",
        "Thủ tục online còn chậm",
        "Đề nghị có thêm ghế chờ",
        "Biển chỉ dẫn khó đọc",
        "Khu vui chơi trẻ em xuống cấp",
        "Đèn đường ngõ 12 bị hỏng",
        "Rác thải chưa được thu gom đúng giờ",
        "Tôi hoàn toàn ủng hộ đề án",
    ]
    held = []
    for i, text in enumerate(words):
        # Twelve readers (a reader without a cookie is known by address: one quota).
        reader = {"Cookie": f"pv=kinds-reader-{i}"}
        r = await client.post(
            f"/v1/polls/{poll['id']}/comments", json={"body": text}, headers=reader
        )
        assert r.status_code in (201, 202), r.text
        if r.status_code == 202:  # a burst from one network is held for a moderator
            held.append(r.json()["comment"]["id"])
    if held:
        r = await admin.post("/v1/admin/comments/moderate", json={"ids": held, "action": "approve"})
        assert r.status_code == 200, r.text
    first = (await client.get(f"/embed/{poll['id']}?view=comments&locale=en")).text
    assert first.count('class="cp-c"') == 10 and words[-1] in first
    more = re.search(r'id="cp0-cmore" href="([^"]+)"', first)
    assert more is not None
    second = (await client.get(more.group(1).replace("&amp;", "&"))).text
    assert second.count('class="cp-c"') == 2 and words[0] in second and words[-1] not in second
    # A cursor that is not one the API gave out shows the first page, not an error.
    junk = await client.get(f"/embed/{poll['id']}?view=comments&cursor=xyz")
    assert junk.status_code == 200 and words[-1] in junk.text


class _DownPool:
    """A pool whose PostgreSQL does not answer."""

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError("connection refused")


async def test_the_page_shows_without_comments_while_postgres_is_down(
    client: httpx.AsyncClient, make_poll: PollMaker, state: Any
) -> None:
    poll = await make_poll(comments="postmoderated", locale="en")
    saved = state.pool
    state.pool = _DownPool()
    try:
        r = await client.get(f"/embed/{poll['id']}?view=results")
    finally:
        state.pool = saved
    assert r.status_code == 200 and "cp-results" in r.text and "cp-comments" not in r.text
    assert r.headers["cache-control"] == "private, no-store"  # no cache keeps this page
    again = await client.get(f"/embed/{poll['id']}?view=results")
    assert "cp-comments" in again.text and again.headers["cache-control"].startswith("public")
