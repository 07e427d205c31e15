"""Signing in and out: sessions in PostgreSQL, cookie flags, expiry and revocation,
throttling, no user enumeration, CSRF on every state-changing request."""

from __future__ import annotations

from typing import Any

import httpx

from service.console import sessions, throttle, users
from tests.console.conftest import PASSWORD, BrowserMaker, UserMaker, csrf_of, sign_in


async def test_a_browser_at_the_root_goes_to_the_console(client: httpx.AsyncClient) -> None:
    r = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.status_code == 303 and r.headers["location"] == "/console"
    assert (await client.get("/")).status_code == 404  # an API client still gets JSON


async def test_sign_in_sets_a_strict_cookie_and_opens_the_console(
    client: httpx.AsyncClient, make_user: UserMaker, state: Any
) -> None:
    await make_user("bien.tap@toasoan.vn")
    assert (await client.get("/console/polls")).headers["location"].startswith("/console/login")
    r = await sign_in(client, "Bien.Tap@toasoan.vn")
    assert r.status_code == 303
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and "cp_console" in v)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is http here
    page = await client.get("/console/polls")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert "bien.tap@toasoan.vn" in page.text
    # Only a keyed hash of the cookie is stored.
    value = client.cookies["cp_console"]
    stored = await state.pool.fetchval("SELECT id_hash FROM console_sessions")
    assert stored != value and len(stored) == 64


async def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(
    client: httpx.AsyncClient, make_user: UserMaker
) -> None:
    await make_user("bien.tap@toasoan.vn")
    wrong = await sign_in(client, "bien.tap@toasoan.vn", "not the password")
    unknown = await sign_in(client, "nobody@toasoan.vn", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "cp_console" not in wrong.headers.get("set-cookie", "")

    def problem(r: httpx.Response) -> str:
        return r.text.split('class="problem"', 1)[1].split("</p>", 1)[0]

    assert problem(wrong) == problem(unknown)


async def test_a_disabled_person_cannot_sign_in_and_their_sessions_end(
    browser_as: BrowserMaker, client: httpx.AsyncClient, state: Any
) -> None:
    editor = await browser_as("bt@toasoan.vn")
    async with state.pool.acquire() as con:
        await users.disable_user(con, users.OPERATOR, "bt@toasoan.vn")
    assert (await editor.get("/console/polls")).status_code == 303
    assert (await sign_in(client, "bt@toasoan.vn")).status_code == 401


async def test_a_new_password_ends_every_session(browser_as: BrowserMaker, state: Any) -> None:
    editor = await browser_as("bt@toasoan.vn")
    assert (await editor.get("/console/polls")).status_code == 200
    async with state.pool.acquire() as con:
        await users.set_password(con, users.OPERATOR, "bt@toasoan.vn", "another long password")
    r = await editor.get("/console/polls")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


async def test_sign_out_is_a_post_with_csrf_and_ends_the_session(
    browser_as: BrowserMaker, state: Any
) -> None:
    editor = await browser_as("bt@toasoan.vn")
    page = await editor.get("/console/polls")
    assert (await editor.post("/console/logout")).status_code == 403  # no token
    assert await state.pool.fetchval("SELECT count(*) FROM console_sessions") == 1
    assert (await editor.get("/console/logout")).status_code == 405
    r = await editor.post("/console/logout", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303
    assert await state.pool.fetchval("SELECT count(*) FROM console_sessions") == 0
    assert (await editor.get("/console/polls")).status_code == 303


async def test_idle_and_old_sessions_expire(browser_as: BrowserMaker, state: Any) -> None:
    editor = await browser_as("bt@toasoan.vn")
    await state.pool.execute(
        "UPDATE console_sessions SET last_seen_at = now() - $1::interval", sessions.IDLE * 1.1
    )
    assert (await editor.get("/console/polls")).status_code == 303
    assert await state.pool.fetchval("SELECT count(*) FROM console_sessions") == 0

    other = await browser_as("bt2@toasoan.vn")
    await state.pool.execute(
        "UPDATE console_sessions SET created_at = now() - $1::interval", sessions.LIFETIME * 1.01
    )
    assert (await other.get("/console/polls")).status_code == 303


async def test_sign_in_is_throttled_per_account(
    app_state: tuple[Any, Any], make_user: UserMaker
) -> None:
    await make_user("bt@toasoan.vn")
    for n in range(throttle.PER_ACCOUNT):
        # From a new address each time: the account's own limit must hold.
        transport = httpx.ASGITransport(app=app_state[0], client=(f"127.0.1.{n}", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            assert (await sign_in(c, "bt@toasoan.vn", "wrong password!")).status_code == 401
    transport = httpx.ASGITransport(app=app_state[0], client=("127.0.2.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await sign_in(c, "bt@toasoan.vn", PASSWORD)  # even the right password
        assert r.status_code == 429 and r.headers["retry-after"] == "900"
        assert "15" in r.text and 'role="alert"' in r.text


async def test_sign_in_is_throttled_per_address(
    client: httpx.AsyncClient, make_user: UserMaker
) -> None:
    await make_user("bt@toasoan.vn")
    for n in range(throttle.PER_ADDRESS):
        assert (await sign_in(client, f"guess{n}@toasoan.vn", "wrong password!")).status_code == 401
    assert (await sign_in(client, "bt@toasoan.vn")).status_code == 429


async def test_the_sign_in_form_needs_its_csrf_token(
    client: httpx.AsyncClient, make_user: UserMaker
) -> None:
    await make_user("bt@toasoan.vn")
    await client.get("/console/login")
    r = await client.post(
        "/console/login", data={"csrf": "forged", "email": "bt@toasoan.vn", "password": PASSWORD}
    )
    assert r.status_code == 403 and "cp_console" not in r.headers.get("set-cookie", "")


async def test_next_never_leaves_the_console(
    client: httpx.AsyncClient, make_user: UserMaker
) -> None:
    await make_user("bt@toasoan.vn")
    form = await client.get("/console/login")
    r = await client.post(
        "/console/login",
        data={
            "csrf": csrf_of(form.text),
            "email": "bt@toasoan.vn",
            "password": PASSWORD,
            "next": "//evil.example/console",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/console"


async def test_every_state_changing_request_needs_the_csrf_token(
    browser_as: BrowserMaker, make_poll: Any
) -> None:
    poll = await make_poll(open=False)
    admin = await browser_as("admin@toasoan.vn")
    page = await admin.get(f"/console/polls/{poll['id']}")
    token = csrf_of(page.text)
    attempts = [
        ("/console/polls", {"site": "hoan-kiem", "question": "Q?", "options": "A\nB"}),
        (f"/console/polls/{poll['id']}", {"question": "Changed?"}),
        (f"/console/polls/{poll['id']}/open", {}),
        (f"/console/polls/{poll['id']}/delete", {}),
        (f"/console/polls/{poll['id']}/link", {"hours": "1"}),
        ("/console/sites", {"slug": "x", "name": "X"}),
        ("/console/sites/hoan-kiem", {"part": "add_origin", "origin": "https://a.example"}),
        ("/console/people", {"email": "x@toasoan.vn", "role": "admin"}),
        ("/console/tokens", {"scope": "polls:read"}),
        ("/console/logout", {}),
    ]
    for path, data in attempts:
        assert (await admin.post(path, data=data)).status_code == 403, path
        assert (await admin.post(path, data={**data, "csrf": "x" + token})).status_code == 403
    # Another origin's page is refused even with the token.
    r = await admin.post(
        f"/console/polls/{poll['id']}/open",
        data={"csrf": token},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    got = await admin.get(f"/console/polls/{poll['id']}")
    assert "Changed?" not in got.text and ">Nháp<" in got.text  # nothing happened


async def test_cookies_are_secure_behind_https(settings: Any, make_user: UserMaker) -> None:
    from dataclasses import replace

    from asgi_lifespan import LifespanManager

    from service.app import create_app

    await make_user("bt@toasoan.vn")
    app = create_app(replace(settings, public_url="https://polls.example.vn"))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 1))
        async with httpx.AsyncClient(transport=transport, base_url="https://polls.example.vn") as c:
            form = await c.get("/console/login")
            assert "Secure" in form.headers["set-cookie"]  # the sign-in form's own cookie
            r = await sign_in(c, "bt@toasoan.vn")
            assert r.status_code == 303
            session = next(v for k, v in r.headers.multi_items() if "cp_console=" in v)
            assert "Secure" in session and "HttpOnly" in session
