"""The console's pages over the admin service functions: polls (list, create, edit with
the API's messages, locks once voted, actions behind a confirmation), results, sites,
people and tokens, the audit log; each change audited with the person's id."""

from __future__ import annotations

import html
from typing import Any

import httpx

from tests.console.conftest import BrowserMaker, csrf_of, form_fields, post_form

QUESTION = "Theo bạn Hà Nội có nên xây dựng thành phố thông minh hay không?"


async def _create(admin: httpx.AsyncClient, **fields: str) -> httpx.Response:
    data = {
        "site": "hoan-kiem",
        "question": QUESTION,
        "options": "Có\nKhông\nÝ kiến khác",
        "kind": "single",
        "results_visibility": "always",
        "dedupe_mode": "cookie",
        "dedupe_window_hours": "24",
        "locale": "",
        "description": "",
        "min_choices": "",
        "max_choices": "",
        "opens_at": "",
        "closes_at": "",
        **fields,
    }
    return await post_form(admin, "/console/polls/new", "/console/polls", data)


async def test_create_a_poll_then_open_it_after_a_confirmation(
    browser_as: BrowserMaker, site: dict[str, Any], state: Any
) -> None:
    admin = await browser_as("admin@toasoan.vn")
    r = await _create(admin, opens_at="2026-12-02T08:00", closes_at="2026-12-31T17:30")
    assert r.status_code == 303, r.text
    poll_url = r.headers["location"].split("?")[0]
    poll_id = poll_url.rsplit("/", 1)[1]
    row = await state.pool.fetchrow("SELECT * FROM polls WHERE id = $1", poll_id)
    assert row["question"] == QUESTION and row["status"] == "draft"
    # The picker's time is Vietnam time: 08:00 there is 01:00 UTC.
    assert row["opens_at"].isoformat() == "2026-12-02T01:00:00+00:00"
    page = await admin.get(poll_url)
    assert 'value="2026-12-02T08:00"' in page.text

    confirm = await admin.get(f"{poll_url}/open")
    assert confirm.status_code == 200 and 'action="' + f"{poll_url}/open" in confirm.text
    assert await state.pool.fetchval("SELECT status FROM polls WHERE id = $1", poll_id) == "draft"
    r = await admin.post(f"{poll_url}/open", data={"csrf": csrf_of(confirm.text)})
    assert r.status_code == 303
    assert await state.pool.fetchval("SELECT status FROM polls WHERE id = $1", poll_id) == "open"
    page = await admin.get(poll_url)
    codes = html.unescape(page.text)
    for code in (f'data-civicpoll="{poll_id}"', "/oembed?url=", f"/v1/polls/{poll_id}/results.svg"):
        assert code in codes
    assert f'src="/embed/{poll_id}?locale=vi&amp;theme=light"' in page.text

    user_id = await state.pool.fetchval("SELECT id FROM users WHERE email = 'admin@toasoan.vn'")
    trail = await state.pool.fetch(
        "SELECT action, actor, user_id, token_id FROM audit_log WHERE object_id = $1 ORDER BY id",
        poll_id,
    )
    assert [(t["action"], t["actor"], t["user_id"], t["token_id"]) for t in trail] == [
        ("create", f"user:{user_id}", user_id, None),
        ("open", f"user:{user_id}", user_id, None),
    ]


async def test_the_api_messages_stand_next_to_the_fields(
    browser_as: BrowserMaker, site: dict[str, Any]
) -> None:
    admin = await browser_as("admin@toasoan.vn")
    r = await _create(admin, options="Chỉ một")
    assert r.status_code == 400
    assert 'id="f-options-error"' in r.text and 'aria-invalid="true"' in r.text
    assert "Chỉ một" in r.text  # what was typed is kept
    r = await _create(admin, opens_at="2026-12-31T08:00", closes_at="2026-12-01T08:00")
    assert r.status_code == 400 and 'id="f-closes_at-error"' in r.text
    r = await _create(admin, dedupe_window_hours="0")
    assert r.status_code == 400 and 'id="f-dedupe_window_hours-error"' in r.text


async def test_options_lock_once_votes_exist(
    browser_as: BrowserMaker, make_poll: Any, client: httpx.AsyncClient, state: Any
) -> None:
    poll = await make_poll()
    vote = await client.post(
        f"/v1/polls/{poll['id']}/votes", json={"choices": [poll["options"][0]["id"]]}
    )
    assert vote.status_code in (200, 201, 202), vote.text
    admin = await browser_as("admin@toasoan.vn")
    page = await admin.get(f"/console/polls/{poll['id']}")
    assert 'name="options" rows="6" disabled' in page.text.replace("\n", " ") or (
        'id="f-options" name="options" rows="6" aria-describedby="f-options-hint" disabled'
        in page.text
    )
    # The form sends only unlocked fields: a new closing time is taken.
    r = await admin.post(
        f"/console/polls/{poll['id']}",
        data={
            "csrf": csrf_of(page.text),
            "description": "Mô tả mới",
            "results_visibility": "always",
            "locale": "",
            "closes_at": "2027-01-01T00:00",
        },
    )
    assert r.status_code == 303, r.text
    assert (
        await state.pool.fetchval("SELECT description FROM polls WHERE id = $1", poll["id"])
        == "Mô tả mới"
    )
    # A forged post of a locked field gets the API's refusal, next to that field.
    r = await admin.post(
        f"/console/polls/{poll['id']}",
        data={"csrf": csrf_of(page.text), "options": "Một\nHai"},
    )
    assert r.status_code == 409 and 'id="f-options-error"' in r.text


async def test_the_list_searches_filters_and_pages(
    browser_as: BrowserMaker, make_poll: Any
) -> None:
    for n in range(23):
        await make_poll(open=n % 2 == 0, question=f"Câu hỏi số {n} về giao thông")
    await make_poll(question="Về 100% cây xanh_đô thị")
    admin = await browser_as("admin@toasoan.vn")
    first = await admin.get("/console/polls")
    assert first.text.count("<tr>") == 21  # header + 20
    assert "Về 100% cây xanh_đô thị" in first.text.split("</tr>")[1]  # newest first
    nxt = first.text.split('href="/console/polls?cursor=')[1].split('"')[0]
    second = await admin.get(f"/console/polls?cursor={nxt}".replace("&amp;", "&"))
    assert second.text.count("<tr>") == 5
    found = await admin.get("/console/polls", params={"search": "100%"})
    assert found.text.count("<tr>") == 2
    drafts = await admin.get("/console/polls", params={"status": "draft", "search": "giao thông"})
    assert drafts.text.count("<tr>") == 12
    bad = await admin.get("/console/polls", params={"kind": "nope"})
    assert bad.status_code == 400 and "kind must be one of" in bad.text


async def test_results_page_frames_the_live_dashboard_and_shares_a_link(
    browser_as: BrowserMaker, make_poll: Any, client: httpx.AsyncClient, state: Any
) -> None:
    poll = await make_poll()
    await client.post(f"/v1/polls/{poll['id']}/votes", json={"choices": [poll["options"][1]["id"]]})
    admin = await browser_as("admin@toasoan.vn")
    page = await admin.get(f"/console/polls/{poll['id']}/results")
    assert page.status_code == 200
    assert "<strong data-total>1</strong>" in page.text
    frame = page.text.split('class="dashboard"')[1].split('src="')[1].split('"')[0]
    # A path on whichever address the console is open at (127.0.0.1 beside localhost).
    assert frame.startswith(f"/dashboard/{poll['id']}?key=")
    dashboard = await client.get(frame.replace("&amp;", "&"))
    assert dashboard.status_code == 200
    stream = page.text.split("data-live-counts=")[1].split('"')[1].replace("&amp;", "&")
    assert stream == f"/v1/polls/{poll['id']}/results/stream?" + frame.split("?")[1].split("&")[0]
    r = await admin.post(
        f"/console/polls/{poll['id']}/link", data={"csrf": csrf_of(page.text), "hours": "48"}
    )
    assert r.status_code == 201 and f"/dashboard/{poll['id']}?key=" in r.text
    export = await admin.get(f"/console/polls/{poll['id']}/export?format=csv")
    assert export.status_code == 200 and export.text.count("\n") == 2


async def test_sites_page_adds_an_origin_keeping_the_others(
    browser_as: BrowserMaker, site: dict[str, Any], state: Any
) -> None:
    admin = await browser_as("admin@toasoan.vn")
    r = await post_form(
        admin,
        "/console/sites/hoan-kiem",
        "/console/sites/hoan-kiem",
        {"part": "add_origin", "origin": "https://baomoi.example.vn"},
    )
    assert r.status_code == 303
    origins = await state.pool.fetchval(
        "SELECT allowed_origins FROM sites WHERE slug = 'hoan-kiem'"
    )
    assert origins == ["https://baomoi.example.vn", "https://portal.example.vn"]
    r = await post_form(
        admin,
        "/console/sites/hoan-kiem",
        "/console/sites/hoan-kiem",
        {"part": "add_origin", "origin": "javascript:alert(1)"},
    )
    assert r.status_code == 400 and "is not an origin" in r.text
    r = await post_form(
        admin, "/console/sites/hoan-kiem", "/console/sites/hoan-kiem", {"part": "rotate"}
    )
    assert r.status_code == 400
    before = await state.pool.fetchval("SELECT voter_secret FROM sites WHERE slug = 'hoan-kiem'")
    r = await post_form(
        admin,
        "/console/sites/hoan-kiem",
        "/console/sites/hoan-kiem",
        {"part": "rotate", "confirm": "on"},
    )
    assert r.status_code == 303
    assert before != await state.pool.fetchval(
        "SELECT voter_secret FROM sites WHERE slug = 'hoan-kiem'"
    )


async def test_people_and_tokens(
    browser_as: BrowserMaker, site: dict[str, Any], state: Any
) -> None:
    admin = await browser_as("admin@toasoan.vn")
    r = await post_form(
        admin,
        "/console/people",
        "/console/people",
        {"email": "editor@toasoan.vn", "role": "editor", "site": "hoan-kiem"},
    )
    assert r.status_code == 201
    secret = r.text.split('class="secret">')[1].split("<")[0]
    transport = admin._transport
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as editor:
        from tests.console.conftest import sign_in

        assert (await sign_in(editor, "editor@toasoan.vn", secret)).status_code == 303
    r = await post_form(
        admin,
        "/console/people",
        "/console/tokens",
        {"scope": "polls:read", "site": "hoan-kiem", "label": "CMS"},
    )
    assert r.status_code == 201
    token = r.text.split('class="secret">')[1].split("<")[0]
    assert token.startswith("cp_")
    api = await admin.get("/v1/admin/polls", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    token_id = await state.pool.fetchval("SELECT id FROM api_tokens WHERE label = 'CMS'")
    r = await post_form(admin, "/console/people", f"/console/tokens/{token_id}/revoke", {})
    assert r.status_code == 200 and "Thu hồi khóa API" in r.text  # asked first
    api = await admin.get("/v1/admin/polls", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    r = await admin.post(f"/console/tokens/{token_id}/revoke", data=form_fields(r.text))
    assert r.status_code == 200
    api = await admin.get("/v1/admin/polls", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401
    log = await admin.get("/console/audit", params={"action": "revoke"})
    assert log.text.count("<tr>") == 2 and "admin@toasoan.vn" in log.text


async def test_feedback_fields_an_own_words_option_and_a_rating(
    browser_as: BrowserMaker, site: dict[str, Any], state: Any
) -> None:
    admin = await browser_as("admin@toasoan.vn")
    r = await _create(admin, other_last="on", comments="premoderated", max_comments_per_voter="2")
    assert r.status_code == 303, r.text
    poll_id = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
    rows = await state.pool.fetch(
        "SELECT label, other FROM poll_options WHERE poll_id = $1 ORDER BY position", poll_id
    )
    assert [(o["label"], o["other"]) for o in rows] == [
        ("Có", False),
        ("Không", False),
        ("Ý kiến khác", True),
    ]
    poll = await state.pool.fetchrow("SELECT * FROM polls WHERE id = $1", poll_id)
    assert poll["comments"] == "premoderated" and poll["max_comments_per_voter"] == 2
    page = await admin.get(f"/console/polls/{poll_id}")
    assert 'id="f-other_last" name="other_last" checked' in page.text

    r = await _create(
        admin, kind="rating", options="", range="7", low_label="Tệ", high_label="Tuyệt"
    )
    assert r.status_code == 303, r.text
    rating_id = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
    assert (
        await state.pool.fetchval("SELECT count(*) FROM poll_options WHERE poll_id = $1", rating_id)
        == 7
    )
    r = await _create(admin, kind="likert", options="", range="6")
    assert r.status_code == 400 and 'id="f-range-error"' in r.text


async def test_a_draft_is_previewed_by_the_widgets_renderer(
    browser_as: BrowserMaker, make_poll: Any, client: httpx.AsyncClient
) -> None:
    poll = await make_poll(open=False)
    admin = await browser_as("admin@toasoan.vn")
    page = await admin.get(f"/console/polls/{poll['id']}")
    assert f'src="/console/polls/{poll["id"]}/preview?locale=vi&amp;theme=light"' in page.text
    preview = await admin.get(f"/console/polls/{poll['id']}/preview?locale=en&theme=dark")
    assert preview.status_code == 200 and poll["question"] in preview.text
    assert preview.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'self'" in preview.headers["content-security-policy"]
    assert 'lang="en"' in preview.text
    assert (await client.get(f"/embed/{poll['id']}")).status_code == 404  # still not public
    assert (await client.get(f"/console/polls/{poll['id']}/preview")).status_code == 303


async def test_a_new_role_applies_to_the_next_request(
    browser_as: BrowserMaker, site: dict[str, Any], state: Any
) -> None:
    admin = await browser_as("admin@toasoan.vn")
    editor = await browser_as("bt@toasoan.vn", "editor", ["hoan-kiem"])
    assert (await editor.get("/console/moderation")).status_code == 403
    r = await post_form(
        admin,
        "/console/people",
        "/console/people/role",
        {"email": "bt@toasoan.vn", "role": "moderator", "site": "hoan-kiem"},
    )
    assert r.status_code == 200
    assert (await editor.get("/console/moderation")).status_code == 200
    assert (await editor.get("/console/polls")).status_code == 403
    r = await post_form(
        admin,
        "/console/people",
        "/console/people/role",
        {"email": "bt@toasoan.vn", "role": "editor"},
    )
    assert r.status_code == 400 and "at least one site" in r.text
    assert (
        await state.pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'change_role'")
        == 1
    )
