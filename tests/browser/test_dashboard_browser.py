"""The live dashboard in headless Chromium against a real uvicorn process
(fixtures in tests/browser/conftest.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.sync_api import Page

if TYPE_CHECKING:  # fixtures' types; conftest modules are not imported by name
    from conftest import ContextMaker, LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture
def site(live_server: LiveServer) -> str:
    """A new site on the live server; its slug."""
    slug = "dash-" + uuid.uuid4().hex[:10]
    live_server.make_site(slug, [])
    return slug


@pytest.fixture
def page(new_context: ContextMaker) -> Iterator[Page]:
    """A fresh page; console errors (CSP violations included) fail the test."""
    pg = new_context(viewport={"width": 1280, "height": 800}).new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    # The locked dashboard answers 403 on purpose; Chromium reports that as an error.
    assert [e for e in errors if "status of 403" not in e] == []


def test_a_vote_shows_on_an_open_dashboard_within_a_second(
    live_server: LiveServer, site: str, page: Page
) -> None:
    poll = live_server.make_poll(site)
    page.goto(f"{live_server.url}/dashboard/{poll['id']}?lang=en")
    page.wait_for_selector(".dash-status.is-live")
    total = page.locator(f'[data-poll="{poll["id"]}"] [data-total]')
    assert total.text_content() == "0"
    option = poll["options"][1]["id"]
    started = time.monotonic()
    r = httpx.post(f"{live_server.url}/v1/polls/{poll['id']}/votes", json={"choices": [option]})
    assert r.status_code == 201
    page.wait_for_function(
        "id => document.querySelector(`[data-poll=\"${id}\"] [data-total]`).textContent === '1'",
        arg=poll["id"],
        timeout=1000,
    )
    assert time.monotonic() - started < 1.0
    row = page.locator(f'[data-option="{option}"]')
    assert row.locator("[data-percent]").text_content() == "100%"
    assert row.locator(".dash-fill").evaluate("el => el.style.width") == "100%"


def test_an_admin_token_unlocks_a_private_dashboard(
    live_server: LiveServer, site: str, page: Page, admin_token: str
) -> None:
    poll = live_server.make_poll(site, results_visibility="never")
    response = page.goto(f"{live_server.url}/dashboard/{poll['id']}")
    assert response is not None and response.status == 403
    assert page.locator("[data-option]").count() == 0
    page.fill("input[name=token]", admin_token)
    page.click("[data-unlock] button")
    page.wait_for_selector(".dash-status.is-live")
    assert "key=" in page.url and admin_token not in page.url
    page.wait_for_selector("[data-integrity] dt")
    assert page.locator("[data-option]").count() == 3


def test_the_site_dashboard_fits_a_phone(
    live_server: LiveServer, site: str, new_context: ContextMaker
) -> None:
    polls: list[dict[str, Any]] = [
        live_server.make_poll(site, question=q) for q in ("Câu hỏi một?", "Câu hỏi hai?")
    ]
    context = new_context(
        viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True
    )
    pg = context.new_page()
    pg.goto(f"{live_server.url}/dashboard/site/{site}")
    pg.wait_for_selector(".dash-status.is-live")
    assert pg.locator("[data-poll]").count() == 2
    overflow = pg.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    assert pg.locator("html").get_attribute("lang") == "vi"
    r = httpx.post(
        f"{live_server.url}/v1/polls/{polls[1]['id']}/votes",
        json={"choices": [polls[1]["options"][0]["id"]]},
    )
    assert r.status_code == 201
    pg.wait_for_function(
        "id => document.querySelector(`[data-poll=\"${id}\"] [data-total]`).textContent === '1'",
        arg=polls[1]["id"],
        timeout=2000,
    )


def test_bars_line_up_and_live_counts_take_the_plural(
    live_server: LiveServer, site: str, page: Page
) -> None:
    poll = live_server.make_poll(site, options=["Có", "Không đồng ý với đề xuất này", "?"])
    page.goto(f"{live_server.url}/dashboard/{poll['id']}?lang=en")
    page.wait_for_selector(".dash-status.is-live")
    first = poll["options"][0]["id"]
    for _ in range(11):  # 100% 11 votes beside 0% 0 votes: labels of different widths
        r = httpx.post(f"{live_server.url}/v1/polls/{poll['id']}/votes", json={"choices": [first]})
        assert r.status_code == 201
    page.wait_for_function(
        "id => document.querySelector(`[data-poll=\"${id}\"] [data-total]`).textContent === '11'",
        arg=poll["id"],
        timeout=2000,
    )
    votes = page.locator("[data-votes]").all_text_contents()
    assert votes == ["11 votes", "0 votes", "0 votes"]
    tracks = page.locator(".dash-track").evaluate_all(
        "els => els.map(el => { const r = el.getBoundingClientRect(); return [r.left, r.right]; })"
    )
    assert len(tracks) == 3 and all(t == tracks[0] for t in tracks), tracks

    r = httpx.post(
        f"{live_server.url}/v1/polls/{poll['id']}/votes",
        json={"choices": [poll["options"][1]["id"]]},
    )
    assert r.status_code == 201
    row = page.locator(f'[data-option="{poll["options"][1]["id"]}"]')
    page.wait_for_function(
        "el => el.textContent === '1 vote'", arg=row.locator("[data-votes]").element_handle()
    )
    again = page.locator(".dash-track").evaluate_all(
        "els => els.map(el => { const r = el.getBoundingClientRect(); return [r.left, r.right]; })"
    )
    assert all(t == again[0] for t in again), again


def test_the_held_line_follows_the_live_frames(live_server: LiveServer, page: Page) -> None:
    """A vote held over the limit shows on the open dashboard in words, and goes once it
    is released (the line the server renders, kept by the script)."""
    slug = "dash-" + uuid.uuid4().hex[:10]
    quiet = {"difficulty": 1000, "flood_min_votes": 100_000, "regular_min_votes": 100_000}
    live_server.make_site(slug, [], rate_per_ip_per_minute=1, burst_per_ip=1, limits=quiet)
    poll = live_server.make_poll(slug, dedupe_mode="none")
    page.goto(f"{live_server.url}/dashboard/{poll['id']}?lang=en")
    page.wait_for_selector(".dash-status.is-live")
    card = page.locator(f'[data-poll="{poll["id"]}"]')
    assert card.locator("[data-held]").count() == 0
    for i in range(2):  # the no-script form from one address: the second one is held
        token = live_server.admin.get(f"/v1/polls/{poll['id']}/token").json()["token"]
        r = live_server.admin.post(
            f"/v1/polls/{poll['id']}/votes",
            content=f"choice={poll['options'][0]['id']}&token={token}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 303 and ("state=held" in r.headers["location"]) == (i == 1)
    card.locator("[data-held]").wait_for(timeout=10_000)
    assert card.locator("[data-held]").text_content() == "1 vote awaiting review"
    assert card.locator("[data-total]").text_content() == "1"
    # A release waits out other processes' in-flight votes (counts.OTHERS_GRACE) first.
    r = live_server.admin.post(
        f"/v1/admin/polls/{poll['id']}/held/release", json={"all": True}, timeout=60
    )
    assert r.status_code == 200, r.text
    page.wait_for_function(
        "id => document.querySelector(`[data-poll=\"${id}\"] [data-total]`).textContent === '2'",
        arg=poll["id"],
        timeout=10_000,
    )
    assert card.locator("[data-held]").count() == 0
