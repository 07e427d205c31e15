"""Destructive People actions ask first (a form that works without script, with the CSRF
token), one's own password is never reset from the People page, and a person changes
their own password on their account page with the current one."""

from __future__ import annotations

from typing import Any

import httpx

from tests.console.conftest import PASSWORD, BrowserMaker, csrf_of, form_fields, post_form, sign_in

NEW = "một mật khẩu mới đủ dài"


async def _fresh(admin: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=admin._transport, base_url="http://testserver")


async def test_a_new_password_for_someone_else_is_confirmed_first(
    browser_as: BrowserMaker, site: dict[str, Any], state: Any
) -> None:
    admin = await browser_as("admin@toasoan.vn")
    editor = await browser_as("bt@hoankiem.vn", "editor", ["hoan-kiem"])
    asked = await post_form(
        admin, "/console/people", "/console/people/password", {"email": "bt@hoankiem.vn"}
    )
    assert asked.status_code == 200
    assert "Cấp cho bt@hoankiem.vn một mật khẩu dùng một lần mới?" in asked.text
    assert 'class="secret"' not in asked.text
    assert (await editor.get("/console/polls")).status_code == 200  # nothing happened yet
    # Without the session's token the confirmation is refused like any form.
    fields = form_fields(asked.text)
    refused = await admin.post("/console/people/password", data={**fields, "csrf": "x"})
    assert refused.status_code == 403
    done = await admin.post("/console/people/password", data=fields)
    assert done.status_code == 200 and 'class="secret"' in done.text
    assert (await editor.get("/console/polls")).status_code == 303  # signed out
    async with await _fresh(admin) as again:
        assert (await sign_in(again, "bt@hoankiem.vn")).status_code != 303

    asked = await post_form(
        admin, "/console/people", "/console/people/disable", {"email": "bt@hoankiem.vn"}
    )
    assert "Vô hiệu hóa bt@hoankiem.vn?" in asked.text
    assert await state.pool.fetchval("SELECT disabled_at FROM users WHERE id = 2") is None
    await admin.post("/console/people/disable", data=form_fields(asked.text))
    assert await state.pool.fetchval("SELECT disabled_at FROM users WHERE id = 2") is not None


async def test_ones_own_password_is_not_reset_from_the_people_page(
    browser_as: BrowserMaker, site: dict[str, Any]
) -> None:
    admin = await browser_as("admin@toasoan.vn")
    page = await admin.get("/console/people")
    own_row = page.text.split("<td>admin@toasoan.vn</td>")[1].split("</tr>")[0]
    assert 'action="/console/people/password"' not in own_row
    assert 'href="/console/account"' in own_row
    r = await post_form(
        admin,
        "/console/people",
        "/console/people/password",
        {"email": "Admin@toasoan.vn", "confirmed": "1"},
    )
    assert r.status_code == 400 and "Tài khoản của bạn" in r.text
    assert (await admin.get("/console/people")).status_code == 200  # still signed in


async def test_a_person_changes_their_own_password(
    browser_as: BrowserMaker, site: dict[str, Any], state: Any
) -> None:
    me = await browser_as("bt@hoankiem.vn", "editor", ["hoan-kiem"])
    async with await _fresh(me) as elsewhere:
        assert (await sign_in(elsewhere, "bt@hoankiem.vn")).status_code == 303
        page = await me.get("/console/account")
        assert page.status_code == 200 and "Biên tập viên" in page.text
        token = csrf_of(page.text)
        for fields, message in (
            ({"current": "sai mật khẩu rồi", "password": NEW, "repeat": NEW}, "không đúng"),
            ({"current": PASSWORD, "password": NEW, "repeat": NEW + "!"}, "không khớp"),
            ({"current": PASSWORD, "password": "ngắn", "repeat": "ngắn"}, "từ 10 đến 256"),
        ):
            r = await me.post("/console/account/password", data={"csrf": token, **fields})
            assert r.status_code == 400 and message in r.text, r.text
        r = await me.post(
            "/console/account/password", data={"current": PASSWORD, "password": NEW, "repeat": NEW}
        )
        assert r.status_code == 403  # no CSRF token
        r = await me.post(
            "/console/account/password",
            data={"csrf": token, "current": PASSWORD, "password": NEW, "repeat": NEW},
        )
        assert r.status_code == 200 and "Đã đổi mật khẩu." in r.text
        assert (await me.get("/console/polls")).status_code == 200  # this session goes on
        assert (await elsewhere.get("/console/polls")).status_code == 303  # the other ended
    async with await _fresh(me) as again:
        assert (await sign_in(again, "bt@hoankiem.vn", NEW)).status_code == 303
    actions = await state.pool.fetch(
        "SELECT action FROM audit_log WHERE object_type = 'user' ORDER BY id"
    )
    assert [a["action"] for a in actions if a["action"] != "sign_in"] == [
        "create",
        "change_password",
    ]


async def test_wrong_current_passwords_spend_the_sign_in_budget(
    browser_as: BrowserMaker, site: dict[str, Any]
) -> None:
    me = await browser_as("bt@hoankiem.vn", "editor", ["hoan-kiem"])
    token = csrf_of((await me.get("/console/account")).text)
    wrong = {"csrf": token, "current": "đoán thử lần nữa", "password": NEW, "repeat": NEW}
    for _ in range(5):
        assert (await me.post("/console/account/password", data=wrong)).status_code == 400
    right = {**wrong, "current": PASSWORD}
    r = await me.post("/console/account/password", data=right)
    assert r.status_code == 429  # even the right one, like the sign-in page
    async with await _fresh(me) as again:
        assert (await sign_in(again, "bt@hoankiem.vn")).status_code == 429
