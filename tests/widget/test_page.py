"""The embed page (widget/page.py) over HTTP: the form around a fresh token, caching and
the CSP, results and notices by phase, the page for a missing poll; and EmbedPages' memo
on its own (the browser tests in tests/browser drive the same pages in Chromium)."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from service.core.i18n import VIETNAM_TIME
from service.identity.tokens import check_widget_token
from service.widget.page import EmbedPages
from service.widget.view import parse_view

from .embedding import (
    SECRET,
    XSS,
    Exploding,
    PollMaker,
    a_poll,
    form_vote,
    fresh_token,
    set_counts,
    token_of,
)


async def test_open_poll_page_is_a_small_accessible_form(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    r = await client.get(f"/embed/{poll['id']}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert len(r.content) < 15 * 1024
    html = r.text
    assert '<html lang="vi"' in html
    assert "<fieldset" in html and "<legend><h1" in html
    for i, option in enumerate(poll["options"], 1):
        assert f'<input type="radio" name="choice" id="cp0-o{i}" value="{option["id"]}"' in html
        assert f'<label for="cp0-o{i}">{option["label"]}</label>' in html
    assert "Chọn một phương án." in html
    assert ">Bình chọn</button>" in html and ">Xem kết quả</a>" in html
    assert f'action="/v1/polls/{poll["id"]}/votes"' in html
    # The page is shared by every reader: its form carries no token (the script fetches one).
    assert 'name="token"' not in html
    # Nothing is fetched from another host: every src/href is relative or this service.
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/") or url.startswith("http://testserver/"), url
    assert "set-cookie" not in r.headers


async def test_page_security_headers(client: httpx.AsyncClient, make_poll: PollMaker) -> None:
    poll = await make_poll()
    r = await client.get(f"/embed/{poll['id']}?accent=%23ffcc00&theme=dark")
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'self' https://portal.example.vn" in csp
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "default-src 'none'" in csp and "form-action 'self'" in csp
    # The one inline style is allowed by its hash, and only it.
    style = re.search(r"<style>(.*?)</style>", r.text, re.S)
    assert style
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp
    assert "--cp-accent:#ffcc00" in style.group(1)
    # Black text on a yellow accent, and controls in the text colour on white (< 3:1).
    assert "--cp-on-accent:#000000" in style.group(1)
    assert "--cp-ui-light:#1a1a1a" in style.group(1)
    assert 'data-theme="dark"' in r.text


async def test_the_shared_page_is_cacheable_and_tokens_come_apart(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    """A shared cache may keep the page a few seconds: it holds no token and no reader's
    state, so every reader gets the same bytes; each token comes fresh from its own
    no-store endpoint."""
    poll = await make_poll()
    first = await client.get(f"/embed/{poll['id']}", headers={"Cookie": "cpv=someone"})
    second = await client.get(f"/embed/{poll['id']}")
    assert first.content == second.content and 'name="token"' not in first.text
    assert first.headers["cache-control"] == "public, max-age=5, s-maxage=5"
    # Without `page` in its URL the page names the article framing it (the Referer).
    assert first.headers["vary"] == "Accept-Encoding, Referer"
    assert "set-cookie" not in first.headers
    assert first.headers["etag"] == second.headers["etag"]
    r = await client.get(f"/embed/{poll['id']}", headers={"If-None-Match": first.headers["etag"]})
    assert r.status_code == 304 and r.content == b""
    assert "frame-ancestors" in r.headers["content-security-policy"]
    other = await client.get(f"/embed/{poll['id']}?locale=en")
    assert other.headers["etag"] != first.headers["etag"]
    tokens = [await fresh_token(client, poll["id"]) for _ in range(2)]
    assert tokens[0] != tokens[1]
    for token in tokens:
        check_widget_token(SECRET.encode(), poll["id"], token)
    missing = await client.get("/v1/polls/nope/token")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_one_readers_pages_stay_private_with_their_own_tokens(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    """An outcome to show or a portal's signed voter id make the page one reader's: never
    stored by a cache, and its form carries a fresh token of its own."""
    poll = await make_poll()
    for query in ("state=rate_limited", "voter=abc.def", "state=token_required&locale=en"):
        pages = [await client.get(f"/embed/{poll['id']}?{query}") for _ in range(2)]
        assert all(p.headers["cache-control"] == "private, no-store" for p in pages), query
        assert "etag" not in pages[0].headers
        assert token_of(pages[0].text) != token_of(pages[1].text)
        check_widget_token(SECRET.encode(), poll["id"], token_of(pages[0].text))
    voter = await client.get(f"/embed/{poll['id']}?voter=abc.def")
    assert 'name="voter" value="abc.def"' in voter.text
    # A site that requires tokens, voted on with no script: the page without a token
    # sends the reader to their own page, which asks them to press Vote again.
    assert "Please confirm: press “Vote” once more" in pages[0].text


async def test_a_site_requiring_tokens_takes_a_scriptless_vote_in_two_steps(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker, site: dict[str, Any]
) -> None:
    r = await admin.patch(f"/v1/admin/sites/{site['slug']}", json={"require_widget_token": True})
    assert r.status_code == 200, r.text
    poll = await make_poll()
    choice = poll["options"][0]["id"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = await client.post(f"/v1/polls/{poll['id']}/votes", content=f"choice={choice}", headers=form)
    assert r.headers["location"].endswith("state=token_required")
    page = await client.get(r.headers["location"])
    assert page.headers["cache-control"] == "private, no-store"
    token = token_of(page.text)
    r = await client.post(
        f"/v1/polls/{poll['id']}/votes", content=f"choice={choice}&token={token}", headers=form
    )
    assert r.headers["location"].endswith("state=voted")


async def test_plain_get_of_an_open_poll_touches_no_storage(
    client: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll()
    warm = await client.get(f"/embed/{poll['id']}?locale=en")
    saved = {k: getattr(state, k) for k in ("pool", "redis", "counts")}
    polls = state.polls
    saved_backends = (polls._pool, polls._redis)
    try:
        for key in saved:
            setattr(state, key, Exploding())
        polls._pool = polls._redis = Exploding()
        r = await client.get(f"/embed/{poll['id']}?locale=en")
    finally:
        for key, value in saved.items():
            setattr(state, key, value)
        polls._pool, polls._redis = saved_backends
    assert r.status_code == 200 and r.content == warm.content


async def test_checkbox_poll_states_its_limits(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll(kind="multiple", max_choices=2, locale="en")
    html = (await client.get(f"/embed/{poll['id']}")).text
    assert html.count('type="checkbox"') == 3 and 'type="radio"' not in html
    assert "Choose up to 2 options." in html and '<html lang="en"' in html
    poll = await make_poll(kind="multiple", min_choices=2, max_choices=3)
    html = (await client.get(f"/embed/{poll['id']}")).text
    assert "Chọn từ 2 đến 3 phương án." in html


async def test_form_vote_round_trip(
    client: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll()
    first = poll["options"][0]["id"]
    r = await form_vote(client, poll["id"], [first], "locale=en&wid=2")
    assert r.status_code == 303
    location = r.headers["location"]
    assert location == f"/embed/{poll['id']}?locale=en&wid=2&state=voted"
    cookie = r.headers["set-cookie"].split(";")[0]
    page = await client.get(location, headers={"Cookie": cookie})
    assert page.headers["cache-control"] == "private, no-store"
    assert "Thank you! You have voted." in page.text
    assert 'data-state="voted"' in page.text and "<form" not in page.text
    assert "100%" in page.text and "Total: 1 vote" in page.text
    assert 'id="cp2-results"' in page.text
    # The second vote from the same browser is refused with the friendly message.
    client.headers["Cookie"] = cookie
    r = await form_vote(client, poll["id"], [first], "locale=en&wid=2")
    assert r.headers["location"].endswith("state=already_voted")
    page = await client.get(r.headers["location"])
    assert "You have already voted in this poll." in page.text and "<form" not in page.text
    # The public page stays the same for everyone: no voter's state leaks into it.
    del client.headers["Cookie"]
    public = await client.get(f"/embed/{poll['id']}?locale=en&wid=2")
    markup = public.text.split('<script type="application/json"')[0]  # the script's catalog
    assert "You have voted" not in markup and "data-state" not in markup
    assert "<form" in markup and "<progress" not in markup


async def test_poll_text_with_html_is_inert(
    client: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll(question=XSS, description=XSS, options=[XSS, "b</label><b>x"])
    await set_counts(state, poll, [3, 1])
    for url in (f"/embed/{poll['id']}", f"/embed/{poll['id']}?view=results"):
        html = (await client.get(url)).text
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;q&#34;)&lt;/script&gt;" in html
        assert "b&lt;/label&gt;&lt;b&gt;x" in html
    svg = (await client.get(f"/v1/polls/{poll['id']}/results.svg")).text
    assert "<script" not in svg and "&lt;script&gt;" in svg


async def test_results_view_numbers_per_locale(
    client: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll()
    await set_counts(state, poll, [1234, 766, 0])
    vi = (await client.get(f"/embed/{poll['id']}?view=results")).text
    assert "1.234 lượt bình chọn" in vi and "Tổng cộng: 2.000 lượt bình chọn" in vi
    assert '<progress max="100" value="62"' in vi and "62%" in vi
    assert ">Quay lại bình chọn</a>" in vi
    en = (await client.get(f"/embed/{poll['id']}?view=results&locale=en")).text
    assert "1,234 votes" in en and "Total: 2,000 votes" in en and "(0 votes)" in en


async def test_results_hidden_until_allowed(
    client: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    later = await make_poll(results_visibility="after_close")
    html = (await client.get(f"/embed/{later['id']}")).text
    assert "view=results" not in html
    html = (await client.get(f"/embed/{later['id']}?view=results")).text
    assert "Kết quả sẽ được công bố khi cuộc thăm dò kết thúc." in html
    assert "<progress" not in html
    after = await make_poll(results_visibility="after_vote")
    html = (await client.get(f"/embed/{after['id']}?view=results&locale=en")).text
    assert "Results are shown after you vote." in html and "<progress" not in html
    # Forging the redirect's state does not show results to a browser that has not voted.
    html = (await client.get(f"/embed/{after['id']}?state=voted&locale=en")).text
    assert "<progress" not in html
    r = await form_vote(client, after["id"], [after["options"][1]["id"]])
    cookie = r.headers["set-cookie"].split(";")[0]
    html = (await client.get(r.headers["location"], headers={"Cookie": cookie})).text
    assert "<progress" in html and "Cảm ơn bạn! Bạn đã bình chọn." in html


async def test_closed_poll_shows_final_results_or_a_notice(
    admin: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll()
    await set_counts(state, poll, [2, 1, 1])
    assert (await admin.post(f"/v1/admin/polls/{poll['id']}/close")).status_code == 200
    html = (await admin.get(f"/embed/{poll['id']}?locale=en")).text
    assert "This poll is closed." in html and "Final results" in html and "<form" not in html
    assert "50%" in html and "Total: 4 votes" in html
    secret = await make_poll(results_visibility="never")
    assert (await admin.post(f"/v1/admin/polls/{secret['id']}/close")).status_code == 200
    html = (await admin.get(f"/embed/{secret['id']}?locale=en")).text
    assert "The results of this poll are not public." in html and "<progress" not in html


async def test_poll_not_open_yet_says_when(client: httpx.AsyncClient, make_poll: PollMaker) -> None:
    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    poll = await make_poll(opens_at=opens.isoformat())
    html = (await client.get(f"/embed/{poll['id']}")).text
    local = opens.astimezone(VIETNAM_TIME)
    assert "Cuộc thăm dò sẽ bắt đầu lúc " in html and "<form" not in html
    assert f"{local:%H:%M} ngày {local:%d/%m/%Y} (giờ Việt Nam)" in html
    assert f'<time datetime="{opens.isoformat()}">' in html


async def test_unknown_and_draft_polls_get_a_friendly_page(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    draft = await make_poll(open=False)
    for poll_id in ("nope", draft["id"], "bad%20id"):
        r = await client.get(f"/embed/{poll_id}?locale=en")
        assert r.status_code == 404
        assert "This poll does not exist" in r.text and r.headers["content-type"].startswith(
            "text/html"
        )


def _page(pages: EmbedPages, poll: Any, **params: str) -> Any:
    return pages.page(
        poll,
        parse_view(params, poll, "http://testserver"),
        phase="open",
        message=None,
        show_form=True,
        wants_results=False,
        results=None,
    )


def test_pages_are_rendered_once_and_cleared_whole_when_full() -> None:
    pages = EmbedPages("http://testserver", "http://testserver", limit=3)
    poll = a_poll()
    first = _page(pages, poll)
    assert _page(pages, poll) is first
    assert _page(pages, poll, locale="en") is not first
    _page(pages, poll, wid="2")
    assert _page(pages, poll) is first  # three pages: all still kept
    _page(pages, poll, wid="3")  # the fourth empties the memo
    again = _page(pages, poll)
    assert again is not first and again == first
    # A pure function of its inputs: another instance gives the same page and ETag.
    other = EmbedPages("http://testserver", "http://testserver")
    assert _page(other, poll) == first
    elsewhere = EmbedPages("https://polls.example.vn", "https://polls.example.vn")
    assert _page(elsewhere, poll).etag != first.etag


def test_the_hot_page_is_for_the_poll_object_it_was_made_from() -> None:
    pages = EmbedPages("http://testserver", "http://testserver", limit=2)
    poll = a_poll()
    page = _page(pages, poll)
    assert pages.hot(poll.id, b"", poll) is None
    pages.keep_hot(poll.id, b"", poll, page)
    assert pages.hot(poll.id, b"", poll) is page
    assert pages.hot(poll.id, b"locale=en", poll) is None
    # A changed poll is a new object in the poll cache, even when it compares equal.
    assert pages.hot(poll.id, b"", a_poll()) is None
    pages.keep_hot(poll.id, b"wid=2", poll, page)
    pages.keep_hot(poll.id, b"wid=3", poll, page)  # the third empties the map
    assert pages.hot(poll.id, b"", poll) is None
    assert pages.hot(poll.id, b"wid=3", poll) is page


def test_the_form_slot_splits_the_page() -> None:
    page = _page(EmbedPages("http://testserver", "http://testserver"), a_poll())
    # A reader's own page puts its token between the two parts, inside the form; the
    # shared page is the parts joined.
    assert len(page.parts) == 2 and page.body == page.head + page.tail
    assert b"<form" in page.head and b"</form>" not in page.head and b"</form>" in page.tail
    assert b"\x00" not in page.body
    assert dict(page.headers)[b"content-type"] == b"text/html; charset=utf-8"
    csp = dict(page.headers)[b"content-security-policy"].decode()
    assert csp.endswith("frame-ancestors 'self' https://portal.example.vn")


async def test_a_site_that_may_not_frame_the_poll_is_told_so(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    """Instead of the browser's broken frame: what is wrong, and what an editor can do."""
    poll = await make_poll()
    path = f"/embed/{poll['id']}"
    framed = {"Sec-Fetch-Dest": "iframe", "Referer": "https://blog.example.com/"}
    r = await client.get(path, headers=framed)
    assert r.status_code == 403
    assert "Trang này chưa được phép hiển thị cuộc thăm dò." in r.text
    assert "https://blog.example.com" in r.text and "<form" not in r.text
    assert r.headers["content-security-policy"].endswith("frame-ancestors *")
    assert r.headers["cache-control"] == "no-store"
    # The framer hears the notice's height (embed.js), so its frame has no blank gap.
    assert 'data-origin="https://blog.example.com"' in r.text
    en = await client.get(f"{path}?locale=en", headers=framed)
    assert "This site may not show this poll." in en.text
    assert "Editors: add https://blog.example.com to the site’s allowed origins." in en.text
    # A full referrer (no-referrer-when-downgrade) names the same origin.
    deep = {**framed, "Referer": "https://blog.example.com:8443/2026/bai-viet?x=1"}
    assert (
        "https://blog.example.com:8443 to"
        in (await client.get(f"{path}?locale=en", headers=deep)).text
    )
    # Allowed framers, the service itself (at any of its addresses), requests that are not
    # frames and referrers that are not origins all get the poll as before.
    for headers in (
        {"Sec-Fetch-Dest": "iframe", "Referer": "https://portal.example.vn/bai"},
        {"Sec-Fetch-Dest": "iframe", "Referer": "http://testserver/preview"},
        {"Sec-Fetch-Dest": "iframe", "Referer": "http://127.0.0.1:8000/", "Host": "127.0.0.1:8000"},
        {"Sec-Fetch-Dest": "document", "Referer": "https://blog.example.com/"},
        {"Referer": "https://blog.example.com/"},
        {"Sec-Fetch-Dest": "iframe"},
        {"Sec-Fetch-Dest": "iframe", "Referer": "android-app://com.example/"},
    ):
        r = await client.get(path, headers=headers)
        assert r.status_code == 200 and "<form" in r.text, headers


@pytest.mark.parametrize("mode", ["ip", "none"])
async def test_after_vote_results_follow_the_one_rule_without_a_cookie_mark(
    client: httpx.AsyncClient, make_poll: PollMaker, mode: str
) -> None:
    """Where no cookie ties a browser to its vote, the API answers 403 to a reader: the
    embed page's ?state=voted (the reader's word only) must not show more."""
    poll = await make_poll(results_visibility="after_vote", dedupe_mode=mode)
    r = await form_vote(client, poll["id"], [poll["options"][0]["id"]])
    assert r.status_code == 303 and r.headers["location"].endswith("state=voted")
    cookie = r.headers["set-cookie"].split(";")[0]
    api = await client.get(f"/v1/polls/{poll['id']}/results", headers={"Cookie": cookie})
    assert api.status_code == 403
    html = (await client.get(r.headers["location"], headers={"Cookie": cookie})).text
    assert "Cảm ơn bạn! Bạn đã bình chọn." in html and "<progress" not in html


async def test_a_site_requiring_tokens_keeps_pages_with_text_boxes_private(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker, site: dict[str, Any]
) -> None:
    """A tokenless post would come back for a second press: fine for a click, not for
    typed words, so there the pages with a text box carry tokens and stay private."""
    r = await admin.patch(f"/v1/admin/sites/{site['slug']}", json={"require_widget_token": True})
    assert r.status_code == 200, r.text
    plain = await make_poll()
    shared = await client.get(f"/embed/{plain['id']}")
    assert shared.headers["cache-control"].startswith("public")
    assert 'name="token"' not in shared.text
    words = await make_poll(options=["Có", {"label": "Ý kiến khác", "other": True}])
    comments = await make_poll(comments="postmoderated")
    for path in (f"/embed/{words['id']}", f"/embed/{comments['id']}?view=comments"):
        page = await client.get(path)
        assert page.headers["cache-control"] == "private, no-store", path
        check_widget_token(SECRET.encode(), path.split("/")[2].split("?")[0], token_of(page.text))
    # The comment form's own tokenless post is never needed there: it has a token.
    page = await client.get(f"/embed/{comments['id']}?view=comments")
    body = f"body=Hay&token={token_of(page.text)}"
    r = await client.post(
        f"/v1/polls/{comments['id']}/comments",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.headers["location"].endswith("comment=published#comments"), r.headers["location"]
