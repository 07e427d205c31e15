"""oEmbed for an /embed URL (widget/oembed.py)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx

from service.widget.oembed import embedded_poll_id, oembed_answer
from service.widget.sizing import frame_heights

from .embedding import PollMaker, a_poll


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


def test_the_url_names_a_poll_of_this_service_only() -> None:
    assert embedded_poll_id("http://testserver/embed/abc", "http://testserver") == "abc"
    assert embedded_poll_id("http://testserver/embed/abc?x=1", "http://testserver") == "abc"
    assert embedded_poll_id("http://elsewhere/embed/abc", "http://testserver") == ""
    assert embedded_poll_id("", "http://testserver") == ""


def test_bounds_that_are_not_numbers_are_ignored() -> None:
    poll = a_poll()
    answer = oembed_answer(poll, "http://testserver", "", "")
    tallest = frame_heights(poll).tallest
    assert (answer["width"], answer["height"]) == (600, tallest)
    answer = oembed_answer(poll, "http://testserver", "320", "100")
    assert (answer["width"], answer["height"]) == (320, 100)
    assert 'width="320" height="100"' in answer["html"]
    answer = oembed_answer(poll, "http://testserver", "-5", "٣")
    assert (answer["width"], answer["height"]) == (600, tallest)


async def test_oembed_frames_every_state_of_the_poll(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    """An oEmbed consumer pastes the iframe as given: as tall as the console's iframe."""
    poll = await make_poll(kind="nps", options=None, comments="premoderated")
    url = f"http://testserver/embed/{poll['id']}"
    answer = (await client.get("/oembed", params={"url": url})).json()
    assert f"height:{answer['height']}px" in poll["embed"]["iframe"]
    assert poll["id"] in answer["html"]
