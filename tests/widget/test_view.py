"""The embed query parameters (widget/view.py): bad values are ignored, the site's theme
is the default, the resize origin only when the site allows it."""

from __future__ import annotations

import httpx
import pytest

from service.widget.view import EMBED_KEYS, form_voter, parse_view

from .embedding import PollMaker, a_poll


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
