"""The embed query parameters (widget/view.py): bad values are ignored, the site's theme
is the default, the resize origin only when the site allows it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from service.widget.view import EMBED_KEYS, form_voter, parse_view

from .embedding import PollMaker, a_poll, fresh_token


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


def test_parse_view_keeps_the_valid_keys_in_their_order() -> None:
    poll = a_poll(site_changes={"theme": {"accent": "#8a1538"}}, locale="en")
    view = parse_view(
        {
            "wid": "7",
            "locale": "vi",
            "accent": "red;}",
            "origin": "https://portal.example.vn",
            "state": "voted",
            "page": "https://news.example.vn/a?x=1",
        },
        poll,
        "http://testserver",
    )
    assert (view.locale, view.wid, view.origin) == ("vi", "7", "https://portal.example.vn")
    assert view.accent == "#8a1538" and view.mode == "auto"  # the site's, then the default
    assert view.query == (
        "locale=vi&wid=7&origin=https%3A%2F%2Fportal.example.vn"
        "&page=https%3A%2F%2Fnews.example.vn%2Fa%3Fx%3D1"
    )
    assert set(EMBED_KEYS) >= {"locale", "origin", "page", "wid"} and "state" not in EMBED_KEYS
    plain = parse_view({}, poll, "http://testserver")
    assert (plain.locale, plain.wid, plain.origin, plain.query) == ("en", "0", "", "")


def test_origin_is_this_service_or_an_allowed_one() -> None:
    poll = a_poll(site_changes={"allowed_origins": ("https://ok.vn", "javascript:alert(1)")})
    assert parse_view({"origin": "http://testserver"}, poll, "http://testserver").origin
    assert parse_view({"origin": "https://ok.vn"}, poll, "http://testserver").origin
    assert not parse_view({"origin": "javascript:alert(1)"}, poll, "http://testserver").origin
    assert not parse_view({"origin": "https://evil.vn"}, poll, "http://testserver").origin


def test_form_voter_carries_only_plausible_ids() -> None:
    assert form_voter(None) is None
    assert form_voter("u-42.1700000000.abcdef") == "u-42.1700000000.abcdef"
    assert form_voter("x" * 301) is None
    assert form_voter("người") is None and form_voter("a\nb") is None


def _framed(referer: str, dest: str = "iframe") -> dict[str, str]:
    return {"Referer": referer, "Sec-Fetch-Dest": dest}


async def test_a_plain_iframe_credits_the_article_framing_it(
    client: httpx.AsyncClient, make_poll: PollMaker, state: Any
) -> None:
    """No `page` in a pasted iframe's URL: the article comes from the Referer, goes on the
    form (hidden field and action), survives the form's redirect, and is the vote's page."""
    poll = await make_poll()
    article = "https://portal.example.vn/tin-tuc/bai-1"
    r = await client.get(f"/embed/{poll['id']}", headers=_framed(article + "?utm=x#top"))
    assert f'<input type="hidden" name="page" value="{article}">' in r.text
    assert "page=https%3A%2F%2Fportal.example.vn%2Ftin-tuc%2Fbai-1" in r.text  # the action
    assert r.headers["vary"] == "Accept-Encoding, Referer"
    # Another article's reader gets their own page, not the one just kept hot.
    other = await client.get(f"/embed/{poll['id']}", headers=_framed(article[:-1] + "2"))
    assert 'value="https://portal.example.vn/tin-tuc/bai-2"' in other.text
    form = {
        "choice": poll["options"][0]["id"],
        "page": article,
        "token": await fresh_token(client, poll["id"]),
    }
    vote = await client.post(
        f"/v1/polls/{poll['id']}/votes?page={quote(article, safe='')}", data=form
    )
    assert vote.status_code == 303, vote.text
    assert quote(article, safe="") in vote.headers["location"]
    after = await client.get(vote.headers["location"])
    assert f'name="page" value="{article}"' in after.text or "cp-cform" not in after.text
    kept = await state.pool.fetchval("SELECT page_url FROM votes WHERE poll_id = $1", poll["id"])
    assert kept == article


@pytest.mark.parametrize(
    "headers",
    [
        {
            "Referer": "https://evil.example/tin-tuc/bai-1"
        },  # not the site's (a framing one is refused)
        _framed("https://portal.example.vn/"),  # cut to its origin: the site, not a page
        _framed("https://portal.example.vn/tin-tuc/bai-1", dest="document"),  # a visit
        {"Referer": "javascript:alert(1)"},
    ],
)
async def test_no_framing_page_from_elsewhere(
    client: httpx.AsyncClient, make_poll: PollMaker, headers: dict[str, str]
) -> None:
    poll = await make_poll()
    r = await client.get(f"/embed/{poll['id']}", headers=headers)
    assert r.status_code == 200 and 'name="page"' not in r.text


async def test_a_page_in_the_url_wins_over_the_referer(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    given = "https://portal.example.vn/bai-3"
    r = await client.get(
        f"/embed/{poll['id']}?page={quote(given, safe='')}",
        headers=_framed("https://portal.example.vn/bai-4"),
    )
    assert f'name="page" value="{given}"' in r.text and "bai-4" not in r.text
    assert r.headers["vary"] == "Accept-Encoding"
