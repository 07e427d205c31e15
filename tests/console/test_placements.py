"""The console's Placements page: list, add (validated, CSRF-checked), remove, the
"which poll would this URL get?" box, in both languages, only for the person's sites."""

from __future__ import annotations

from typing import Any

import httpx

from tests.console.conftest import BrowserMaker, csrf_of

SITE = "https://portal.example.vn"
URL = "/console/sites/hoan-kiem/placements"


async def test_add_check_and_remove(
    browser_as: BrowserMaker, make_poll: Any, admin: httpx.AsyncClient, state: Any
) -> None:
    poll = await make_poll(question="Bạn thấy tin này hữu ích không?")
    editor = await browser_as("bientap@toasoan.vn", role="editor", sites=["hoan-kiem"])
    page = await editor.get(URL)
    assert page.status_code == 200
    assert "Chưa có cuộc thăm dò nào được đặt" in page.text
    assert '&lt;div data-civicpoll-site="hoan-kiem"&gt;' in page.text  # the snippet to paste
    # Without the CSRF token: refused, nothing placed.
    r = await editor.post(URL, data={"part": "add", "match": f"{SITE}/*", "poll_id": poll["id"]})
    assert r.status_code == 403
    csrf = csrf_of(page.text)
    # Off the site's origins: the form comes back with the reason, what was typed kept.
    r = await editor.post(
        URL,
        data={
            "csrf": csrf,
            "part": "add",
            "match": "https://evil.example/*",
            "poll_id": poll["id"],
        },
    )
    assert r.status_code == 400
    assert 'role="alert"' in r.text and 'value="https://evil.example/*"' in r.text
    r = await editor.post(
        URL,
        data={
            "csrf": csrf,
            "part": "add",
            "match": f"{SITE}/tin-tuc/*",
            "poll_id": poll["id"],
            "priority": "2",
        },
    )
    assert r.status_code == 303, r.text
    page = await editor.get(URL)
    assert f"{SITE}/tin-tuc/*" in page.text and "Bạn thấy tin này hữu ích không?" in page.text
    # The check box answers as the snippet would.
    r = await editor.get(URL, params={"url": f"{SITE}/tin-tuc/bai-1?utm_source=fb"})
    assert 'id="placement-answer"' in r.text and "Trang này hiện:" in r.text
    r = await editor.get(URL, params={"url": f"{SITE}/the-thao/a", "lang": "en"})
    assert "No open poll is placed on this page" in r.text
    r = await editor.get(URL, params={"url": "https://evil.example/a"})
    assert "not on one of the site" in r.text
    placement_id = await state.pool.fetchval("SELECT id FROM placements")
    r = await editor.post(URL, data={"csrf": csrf, "part": "remove", "id": str(placement_id)})
    assert r.status_code == 303
    assert await state.pool.fetchval("SELECT count(*) FROM placements") == 0
    actors = await state.pool.fetch(
        "SELECT actor, action FROM audit_log WHERE object_type = 'placement' ORDER BY id"
    )
    assert [a["action"] for a in actors] == ["create", "delete"]
    assert all(a["actor"].startswith("user:") for a in actors)


async def test_another_sites_editor_and_a_moderator_are_refused(
    browser_as: BrowserMaker, make_poll: Any, admin: httpx.AsyncClient
) -> None:
    r = await admin.post(
        "/v1/admin/sites", json={"slug": "other", "name": "Other", "allowed_origins": [SITE]}
    )
    assert r.status_code == 201
    other = await browser_as("khac@toasoan.vn", role="editor", sites=["other"])
    assert (await other.get(URL)).status_code == 404
    moderator = await browser_as("kiemduyet@toasoan.vn", role="moderator", sites=["hoan-kiem"])
    assert (await moderator.get(URL)).status_code == 403


async def test_the_nav_leads_an_editor_to_their_sites_placements(
    browser_as: BrowserMaker, admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    r = await admin.post(
        "/v1/admin/sites", json={"slug": "other", "name": "Other", "allowed_origins": [SITE]}
    )
    assert r.status_code == 201
    editor = await browser_as("bientap@toasoan.vn", role="editor", sites=["hoan-kiem"])
    home = await editor.get("/console/polls")
    assert 'href="/console/placements"' in home.text
    r = await editor.get("/console/placements")
    assert r.status_code == 303 and r.headers["location"] == URL
    chief = await browser_as("tongbientap@toasoan.vn", role="admin")
    r = await chief.get("/console/placements")
    assert r.status_code == 200
    assert 'href="/console/sites/hoan-kiem/placements"' in r.text
    assert 'href="/console/sites/other/placements"' in r.text
