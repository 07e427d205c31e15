"""The moderation page over service.feedback.moderation: the queue of the moderator's
site by state, counts per state, single and bulk actions (audited with the person's id),
and nothing of another site's comments."""

from __future__ import annotations

from typing import Any

import httpx

from tests.console.conftest import BrowserMaker, csrf_of, form_fields
from tests.console.test_roles import XSS
from tests.feedback.test_comments import comment


async def test_a_moderator_works_the_queue_of_their_site(
    browser_as: BrowserMaker,
    make_poll: Any,
    admin: httpx.AsyncClient,
    client: httpx.AsyncClient,
    state: Any,
) -> None:
    poll = await make_poll(comments="premoderated")
    for body in ("Nên làm sớm", "Cần thêm cây xanh", XSS):
        assert (await comment(client, poll, body)).status_code == 202
    r = await admin.post("/v1/admin/sites", json={"slug": "ba-dinh", "name": "Ba Đình"})
    assert r.status_code == 201
    r = await admin.post(
        "/v1/admin/polls",
        json={
            "site": "ba-dinh",
            "question": "Khác?",
            "options": ["A", "B"],
            "comments": "premoderated",
        },
    )
    other = r.json()
    await admin.post(f"/v1/admin/polls/{other['id']}/open")
    assert (await comment(client, other, "Bình luận của Ba Đình")).status_code == 202

    mod = await browser_as("kd@hoankiem.vn", "moderator", ["hoan-kiem"])
    page = await mod.get("/console/moderation")
    assert page.status_code == 200
    assert "Nên làm sớm" in page.text and "Ba Đình" not in page.text
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    assert "Chờ duyệt: 3" in page.text
    ids = await state.pool.fetch(
        "SELECT id::text, body FROM comments WHERE poll_id = $1 ORDER BY created_at", poll["id"]
    )
    first, second, third = (r["id"] for r in ids)
    token = csrf_of(page.text)
    r = await mod.post(
        "/console/moderation",
        data={
            "csrf": token,
            "one": f"{first}:approve",
            "back": "/console/moderation?state=pending",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/moderation?state=pending"
    r = await mod.post(
        "/console/moderation",
        data={"csrf": token, "ids": [second, third], "action": "reject", "back": "//evil"},
    )
    # Rejecting in bulk asks first (a page that works without script), moving nothing.
    assert r.status_code == 200 and "Từ chối 2 bình luận đã chọn?" in r.text
    pending = await state.pool.fetchval(
        "SELECT count(*) FROM comments WHERE poll_id = $1 AND state = 'pending'", poll["id"]
    )
    assert pending == 2
    r = await mod.post("/console/moderation", data=form_fields(r.text))
    assert r.status_code == 303 and r.headers["location"] == "/console/moderation"
    states = await state.pool.fetch(
        "SELECT id::text, state FROM comments WHERE poll_id = $1", poll["id"]
    )
    assert {r["id"]: r["state"] for r in states} == {
        first: "published",
        second: "rejected",
        third: "rejected",
    }
    page = await mod.get("/console/moderation?state=rejected")
    assert "Từ chối: 2" in page.text and "Đã đăng: 1" in page.text
    user_id = await state.pool.fetchval("SELECT id FROM users WHERE email = 'kd@hoankiem.vn'")
    assert (
        await state.pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE object_type = 'comment' AND user_id = $1", user_id
        )
        == 3
    )

    theirs = await state.pool.fetchval(
        "SELECT id::text FROM comments WHERE poll_id = $1", other["id"]
    )
    r = await mod.post("/console/moderation", data={"csrf": token, "one": f"{theirs}:approve"})
    assert r.status_code == 404
    assert (await mod.get("/console/moderation?site=ba-dinh")).status_code == 404
    assert (
        await state.pool.fetchval("SELECT state FROM comments WHERE id = $1::uuid", theirs)
        == "pending"
    )
    # Without the token, nothing moves.
    r = await mod.post("/console/moderation", data={"one": f"{first}:reject"})
    assert r.status_code == 403


async def test_editors_have_no_moderation_page(browser_as: BrowserMaker, site: Any) -> None:
    editor = await browser_as("bt@hoankiem.vn", "editor", ["hoan-kiem"])
    assert (await editor.get("/console/moderation")).status_code == 403


async def test_a_comment_held_by_reports_shows_the_reporting_networks(
    browser_as: BrowserMaker, make_poll: Any, client: httpx.AsyncClient
) -> None:
    """docs/security/reports.md: the moderator sees which networks reported a comment, as
    short keyed hashes, never an address."""
    poll = await make_poll(comments="postmoderated")
    r = await comment(client, poll, "Bị ba mạng báo cáo", {"X-Forwarded-For": "192.0.2.1"})
    cid = r.json()["comment"]["id"]
    for n, ip in enumerate(("198.51.100.7", "203.0.113.7", "2001:db8:4:4::7")):
        headers = {"X-Forwarded-For": ip, "Cookie": f"pv=console-reporter-{n}"}
        r = await client.post(
            f"/v1/polls/{poll['id']}/comments/{cid}/reports",
            json={"reason": "spam"},
            headers=headers,
        )
        assert r.status_code == 202
    mod = await browser_as("bc@hoankiem.vn", "moderator", ["hoan-kiem"])
    page = await mod.get("/console/moderation", params={"state": "held"})
    assert "Bị ba mạng báo cáo" in page.text and "Bị báo cáo từ các mạng" in page.text
    shown = page.text.split("data-report-networks>")[1].split("</span>")[0].split(", ")
    assert len(shown) == 3 and all(len(n) == 8 for n in shown)
    assert "198.51" not in page.text and "2001:db8" not in page.text
