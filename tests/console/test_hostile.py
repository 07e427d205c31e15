"""No crafted value in a console query, form or cookie makes a 5xx: NUL bytes, bad UTF-8,
huge numbers, header-breaking redirect targets."""

from __future__ import annotations

from typing import Any

import httpx

from tests.console.conftest import BrowserMaker, csrf_of

HOSTILE = ("%00", "%C3%28", "9" * 40, "x" * 5000, "%0d%0aSet-Cookie:%20x=1", "²", "-1")


async def test_hostile_query_values(browser_as: BrowserMaker, make_poll: Any) -> None:
    poll = await make_poll()
    admin = await browser_as("admin@toasoan.vn")
    pages = {
        "/console/polls": ("search", "site", "status", "kind", "cursor", "lang"),
        "/console/audit": ("object", "actor", "action", "before"),
        "/console/moderation": ("site", "poll", "state", "reason", "cursor"),
        f"/console/polls/{poll['id']}/export": ("format",),
        "/console/login": ("next",),
    }
    for path, names in pages.items():
        for name in names:
            for value in HOSTILE:
                r = await admin.get(f"{path}?{name}={value}")
                assert r.status_code < 500, (path, name, value, r.text[:300])


async def test_hostile_form_values_and_cookies(
    browser_as: BrowserMaker, app_state: tuple[Any, Any], site: Any, people: None
) -> None:
    admin = await browser_as("admin@toasoan.vn")
    page = await admin.get("/console/people")
    token = csrf_of(page.text)
    for value in ("\x00", "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"), "9" * 30):
        for path, field in (
            ("/console/people", "email"),
            ("/console/tokens", "label"),
            ("/console/sites", "slug"),
            ("/console/polls", "question"),
            ("/console/moderation", "back"),
        ):
            r = await admin.post(path, data={"csrf": token, field: value, "one": "x:approve"})
            assert r.status_code < 500, (path, field, r.text[:300])
    for target in ("/console/moderation?\r\nSet-Cookie: x=1", "/console/moderation?é"):
        r = await admin.post("/console/moderation", data={"csrf": token, "ids": [], "back": target})
        assert r.status_code < 500
    transport = httpx.ASGITransport(app=app_state[0], client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        form = await c.get("/console/login")
        for email in ("a\x00b@x.vn", "x" * 5000):
            r = await c.post(
                "/console/login",
                data={"csrf": csrf_of(form.text), "email": email, "password": "p" * 10_000},
            )
            assert r.status_code == 401
        for raw in ("\x00", "é" * 10, "x" * 500):
            r = await c.get(
                "/console/polls",
                headers={"Cookie": f"cp_console={raw}".encode()},
            )
            assert r.status_code == 303
