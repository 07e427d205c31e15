"""The embed page, the loader, oEmbed and the results SVG over HTTP (the browser tests
in tests/browser drive the same pages in Chromium)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from service.core.assets import ASSETS
from service.core.i18n import CATALOGS, VIETNAM_TIME, format_number, votes_text
from service.voting.identity import check_widget_token
from service.voting.keys import counts_key
from service.widget import outcomes

PollMaker = Callable[..., Awaitable[dict[str, Any]]]
# The session settings' SECRET_KEY (tests/conftest.py).
SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
XSS = '<script>alert("q")</script><img src=x onerror=alert(1)>'


class Exploding:
    """Stands in for a storage client: any use fails the request (and the test)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"storage touched: {name}")


def _token(html: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', html)
    assert match, "the form carries no token"
    return match.group(1)


async def _set_counts(state: dict[str, Any], poll: dict[str, Any], votes: list[int]) -> None:
    await state.redis.hset(
        counts_key(poll["id"]),
        mapping={o["id"]: v for o, v in zip(poll["options"], votes, strict=True)},
    )
    state.counts._entries.clear()


async def _form_vote(
    client: httpx.AsyncClient, poll_id: str, choices: list[str], query: str = "", **extra: str
) -> httpx.Response:
    page = await client.get(f"/embed/{poll_id}?{query}")
    data = [("choice", c) for c in choices] + [("token", _token(page.text))]
    data += list(extra.items())
    return await client.post(
        f"/v1/polls/{poll_id}/votes?{query}",
        content="&".join(f"{k}={v}" for k, v in data),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
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
    check_widget_token(SECRET.encode(), poll["id"], _token(html))
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


@pytest.mark.parametrize(
    "query",
    [
        "accent=red;}</style><script>alert(1)</script>",
        "font=x;}body{display:none",
        "radius=999",
        "theme=neon",
        "locale=fr",
        "wid=<b>",
    ],
)
async def test_bad_theme_values_are_ignored(
    client: httpx.AsyncClient, make_poll: PollMaker, query: str
) -> None:
    poll = await make_poll()
    plain = await client.get(f"/embed/{poll['id']}")
    r = await client.get(f"/embed/{poll['id']}?{query}")
    assert r.status_code == 200
    assert r.headers["etag"] == plain.headers["etag"]
    assert "alert(1)" not in r.text and "display:none" not in r.text


async def test_site_theme_and_data_overrides(
    admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    r = await admin.patch(
        "/v1/admin/sites/hoan-kiem",
        json={"theme": {"accent": "#8a1538", "radius": "0", "font": "Georgia, serif"}},
    )
    assert r.status_code == 200, r.text
    poll = await make_poll()
    page = (await admin.get(f"/embed/{poll['id']}")).text
    assert "--cp-accent:#8a1538" in page and "--cp-radius:0px" in page
    assert "--cp-font:Georgia, serif" in page
    page = (await admin.get(f"/embed/{poll['id']}?accent=%23005500&radius=12")).text
    assert "--cp-accent:#005500" in page and "--cp-radius:12px" in page


async def test_tokens_are_fresh_while_the_page_is_cached(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    first = await client.get(f"/embed/{poll['id']}")
    second = await client.get(f"/embed/{poll['id']}")
    assert _token(first.text) != _token(second.text)
    assert first.headers["etag"] == second.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"
    r = await client.get(f"/embed/{poll['id']}", headers={"If-None-Match": first.headers["etag"]})
    assert r.status_code == 304 and r.content == b""
    assert "frame-ancestors" in r.headers["content-security-policy"]
    other = await client.get(f"/embed/{poll['id']}?locale=en")
    assert other.headers["etag"] != first.headers["etag"]


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
    assert r.status_code == 200
    assert r.text.replace(_token(r.text), "") == warm.text.replace(_token(warm.text), "")


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
    r = await _form_vote(client, poll["id"], [first], "locale=en&wid=2")
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
    r = await _form_vote(client, poll["id"], [first], "locale=en&wid=2")
    assert r.headers["location"].endswith("state=already_voted")
    page = await client.get(r.headers["location"])
    assert "You have already voted in this poll." in page.text and "<form" not in page.text
    # The public page stays the same for everyone: no voter's state leaks into it.
    del client.headers["Cookie"]
    public = await client.get(f"/embed/{poll['id']}?locale=en&wid=2")
    markup = public.text.split('<script type="application/json"')[0]  # the script's catalog
    assert "You have voted" not in markup and "data-state" not in markup
    assert "<form" in markup and "<progress" not in markup


async def test_form_vote_with_a_wrong_count_shows_the_rule(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll(kind="multiple", max_choices=2)
    ids = [o["id"] for o in poll["options"]]
    r = await _form_vote(client, poll["id"], ids)
    assert r.headers["location"].endswith("state=invalid_choice_count")
    page = await client.get(r.headers["location"])
    assert "Chọn tối đa 2 phương án." in page.text and "<form" in page.text
    check_widget_token(SECRET.encode(), poll["id"], _token(page.text))


@pytest.mark.parametrize(
    ("state_param", "vi", "en"),
    [
        ("already_voted", "Bạn đã bình chọn", "You have already voted"),
        ("rate_limited", "Có quá nhiều lượt bình chọn từ mạng", "Too many votes from your network"),
        ("poll_closed", "Cuộc thăm dò đã kết thúc.", "This poll is closed."),
        ("unavailable", "Hệ thống đang bận", "The service is busy"),
        ("token_expired", "Biểu mẫu đã hết hạn", "This form has expired"),
        ("something_new", "Không gửi được bình chọn", "Your vote could not be sent"),
    ],
)
async def test_friendly_messages_in_both_languages(
    client: httpx.AsyncClient, make_poll: PollMaker, state_param: str, vi: str, en: str
) -> None:
    poll = await make_poll()
    r = await client.get(f"/embed/{poll['id']}?state={state_param}")
    assert vi in r.text and r.headers["cache-control"] == "private, no-store"
    r = await client.get(f"/embed/{poll['id']}?state={state_param}&locale=en")
    assert en in r.text


async def test_poll_text_with_html_is_inert(
    client: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll(question=XSS, description=XSS, options=[XSS, "b</label><b>x"])
    await _set_counts(state, poll, [3, 1])
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
    await _set_counts(state, poll, [1234, 766, 0])
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
    r = await _form_vote(client, after["id"], [after["options"][1]["id"]])
    cookie = r.headers["set-cookie"].split(";")[0]
    html = (await client.get(r.headers["location"], headers={"Cookie": cookie})).text
    assert "<progress" in html and "Cảm ơn bạn! Bạn đã bình chọn." in html


async def test_closed_poll_shows_final_results_or_a_notice(
    admin: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll()
    await _set_counts(state, poll, [2, 1, 1])
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


async def test_resize_origin_only_when_the_site_allows_it(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    good = await client.get(f"/embed/{poll['id']}?origin=https://portal.example.vn&wid=3")
    assert 'data-origin="https://portal.example.vn"' in good.text
    assert 'action="/v1/polls/' in good.text and "origin=https%3A%2F%2Fportal.example.vn" in (
        good.text
    )
    assert 'id="cp3-o1"' in good.text
    bad = await client.get(f"/embed/{poll['id']}?origin=https://evil.example")
    assert "data-origin" not in bad.text and "evil" not in bad.text


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


async def test_oembed(client: httpx.AsyncClient, make_poll: PollMaker) -> None:
    poll = await make_poll(question="Build a <smart> city?")
    page = (await client.get(f"/embed/{poll['id']}")).text
    link = re.search(r'<link rel="alternate" type="application/json\+oembed" href="([^"]+)"', page)
    assert link
    href = link.group(1).replace("&amp;", "&")
    r = await client.get(href)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "rich" and body["version"] == "1.0"
    assert body["title"] == "Build a <smart> city?"
    assert f'src="http://testserver/embed/{poll["id"]}"' in body["html"]
    assert "&lt;smart&gt;" in body["html"] and body["width"] == 600
    r = await client.get(
        "/oembed",
        params={"url": f"http://testserver/embed/{poll['id']}", "maxwidth": "300"},
    )
    assert r.json()["width"] == 300
    assert parse_qs(urlsplit(href).query)["format"] == ["json"]
    r = await client.get("/oembed", params={"url": "http://elsewhere/embed/" + poll["id"]})
    assert r.status_code == 404
    r = await client.get("/oembed", params={"url": href, "format": "xml"})
    assert r.status_code == 501


async def test_results_svg(
    client: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll(locale="en")
    await _set_counts(state, poll, [3, 1, 0])
    r = await client.get(f"/v1/polls/{poll['id']}/results.svg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    assert r.text.startswith("<svg") and "75%" in r.text and "Total: 4 votes" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    again = await client.get(
        f"/v1/polls/{poll['id']}/results.svg", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304
    vi = await client.get(f"/v1/polls/{poll['id']}/results.svg?locale=vi")
    assert "Tổng cộng: 4 lượt bình chọn" in vi.text
    hidden = await make_poll(results_visibility="after_close")
    r = await client.get(f"/v1/polls/{hidden['id']}/results.svg")
    assert r.status_code == 403 and r.json()["error"]["code"] == "results_hidden"


async def test_loader_and_static_files(client: httpx.AsyncClient, state: dict[str, Any]) -> None:
    r = await client.get("/widget.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert len(r.content) < 4096
    assert r.headers["cache-control"] == "public, max-age=3600"
    again = await client.get("/widget.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    for name in ("embed.css", "embed.js"):
        version = ASSETS[name].version
        r = await client.get(f"/static/{name}?v={version}")
        assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    assert (await client.get("/static/secrets.txt")).status_code == 404


async def test_routes_are_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/embed/{poll_id}", "/widget.js", "/oembed", "/v1/polls/{poll_id}/results.svg"):
        assert "get" in paths[path]


def test_catalogs_match_and_numbers_follow_the_locale() -> None:
    assert set(CATALOGS["vi"]) == set(CATALOGS["en"])
    assert format_number(1234567, "vi") == "1.234.567"
    assert format_number(1234567, "en") == "1,234,567"
    assert votes_text(1234, "vi") == "1.234 lượt bình chọn"
    assert votes_text(1234, "en") == "1,234 votes" and votes_text(1, "en") == "1 vote"
    for code, key in outcomes.OUTCOME_MESSAGES.items():
        assert key == "choice_rule" or key in CATALOGS["en"], code
