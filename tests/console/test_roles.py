"""Who may do what: admins everything, editors the polls of their sites (another site's
poll is missing, word for word), moderators no poll editing; and no page renders what
someone typed unescaped."""

from __future__ import annotations

from typing import Any

import httpx

from tests.console.conftest import BrowserMaker, csrf_of, post_form
from tests.console.test_pages import _create

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def _other_site(admin_api: httpx.AsyncClient) -> None:
    r = await admin_api.post("/v1/admin/sites", json={"slug": "ba-dinh", "name": "Ba Đình"})
    assert r.status_code == 201, r.text


async def test_role_matrix(
    browser_as: BrowserMaker, make_poll: Any, admin: httpx.AsyncClient, state: Any
) -> None:
    await _other_site(admin)
    ours = await make_poll(question="Câu hỏi của Hoàn Kiếm?")
    r = await admin.post(
        "/v1/admin/polls",
        json={"site": "ba-dinh", "question": "Câu hỏi của Ba Đình?", "options": ["A", "B"]},
    )
    theirs = r.json()
    editor = await browser_as("bt@hoankiem.vn", "editor", ["hoan-kiem"])
    moderator = await browser_as("kd@hoankiem.vn", "moderator", ["hoan-kiem"])
    boss = await browser_as("admin@toasoan.vn", "admin")

    listing = await editor.get("/console/polls")
    assert "Câu hỏi của Hoàn Kiếm?" in listing.text and "Ba Đình" not in listing.text
    assert (await editor.get(f"/console/polls/{ours['id']}")).status_code == 200
    missing = await editor.get(f"/console/polls/{theirs['id']}")
    unknown = await editor.get("/console/polls/zzzzzzzzzz")
    assert missing.status_code == unknown.status_code == 404
    for path in ("", "/results", "/close", "/export"):
        assert (await editor.get(f"/console/polls/{theirs['id']}{path}")).status_code == 404
    token = csrf_of(listing.text)
    for path in ("", "/open", "/delete", "/link"):
        r = await editor.post(f"/console/polls/{theirs['id']}{path}", data={"csrf": token})
        assert r.status_code == 404, path
    assert await state.pool.fetchval("SELECT count(*) FROM polls") == 2
    r = await _create(editor, site="ba-dinh")
    assert r.status_code == 400 and 'id="f-site-error"' in r.text
    for path in ("/console/sites", "/console/sites/hoan-kiem", "/console/people", "/console/audit"):
        assert (await editor.get(path)).status_code == 403, path
    assert "/console/sites" not in listing.text  # not offered either

    home = await moderator.get("/console")
    assert home.status_code == 303 and home.headers["location"] == "/console/moderation"
    assert (await moderator.get("/console/polls")).status_code == 403
    assert (await moderator.get(f"/console/polls/{ours['id']}")).status_code == 403
    assert (await moderator.get("/console/people")).status_code == 403

    for path in ("/console/polls", f"/console/polls/{theirs['id']}", "/console/sites/ba-dinh"):
        assert (await boss.get(path)).status_code == 200, path
    assert (await boss.get("/console")).headers["location"] == "/console/polls"


async def test_no_page_renders_typed_text_unescaped(
    browser_as: BrowserMaker, admin: httpx.AsyncClient, state: Any
) -> None:
    r = await admin.post(
        "/v1/admin/sites",
        json={"slug": "hoan-kiem", "name": XSS, "allowed_origins": ["https://portal.example.vn"]},
    )
    assert r.status_code == 201, r.text
    boss = await browser_as("admin@toasoan.vn", "admin")
    r = await _create(boss, question=XSS, description=XSS, options=f"{XSS}\nB {XSS}")
    assert r.status_code == 303, r.text
    poll_id = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
    confirm = await boss.get(f"/console/polls/{poll_id}/open")
    await boss.post(f"/console/polls/{poll_id}/open", data={"csrf": csrf_of(confirm.text)})
    await post_form(
        boss, "/console/people", "/console/tokens", {"scope": "polls:read", "label": XSS}
    )
    await post_form(
        boss,
        "/console/people",
        "/console/people",
        {"email": "<svg/onload=alert(1)>@x.vn", "role": "admin"},
    )
    invalid = await _create(boss, question=XSS, options="")  # the form shown again, with it
    pages = [
        "/console/polls",
        f"/console/polls?search={XSS}",
        f"/console/polls/{poll_id}",
        f"/console/polls/{poll_id}/results",
        f"/console/polls/{poll_id}/close",
        "/console/sites",
        "/console/sites/hoan-kiem",
        "/console/people",
        "/console/audit",
        f"/console/audit?object={XSS}",
    ]
    bodies = [invalid.text]
    for path in pages:
        r = await boss.get(path)
        assert r.status_code in (200, 400), path
        bodies.append(r.text)
    seen = 0
    for body in bodies:
        assert "<script>alert" not in body and "<img src=x" not in body
        assert "<svg/onload" not in body
        seen += body.count("&lt;script&gt;alert") + body.count("\\u003cscript\\u003e")
    assert seen >= len(bodies)  # the payload is there, escaped, on every page
