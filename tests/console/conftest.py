"""Console fixtures: people of each role, and browsers (httpx clients) signed in as them."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from service.console import users

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
async def people(state: Any) -> AsyncIterator[None]:
    """No console people, sessions or failed sign-ins left from another test."""
    await state.pool.execute(
        "TRUNCATE users, console_sessions, login_failures, user_sites RESTART IDENTITY CASCADE"
    )
    yield


def form_fields(page: str) -> dict[str, list[str]]:
    """The hidden fields of a page's forms (a confirmation's), as a browser sends them."""
    fields: dict[str, list[str]] = {}
    for name, value in _HIDDEN.findall(page):
        fields.setdefault(name, []).append(html.unescape(value))
    return fields


UserMaker = Callable[..., Awaitable[int]]


@pytest.fixture
def make_user(state: Any, people: None) -> UserMaker:
    """make_user(email, role, sites=[...]) -> the new person's id (password PASSWORD)."""

    async def make(email: str, role: str = "admin", sites: list[str] | None = None) -> int:
        async with state.pool.acquire() as con:
            return await users.create_user(
                con, users.OPERATOR, email=email, role=role, password=PASSWORD, sites=sites or []
            )

    return make


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    form = await client.get("/console/login")
    assert form.status_code == 200
    return await client.post(
        "/console/login",
        data={"csrf": csrf_of(form.text), "email": email, "password": password, "next": "/console"},
    )


BrowserMaker = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def browser_as(
    app_state: tuple[Any, Any], make_user: UserMaker
) -> AsyncIterator[BrowserMaker]:
    """browser_as(email, role, sites) -> a client with that person signed in."""
    opened: list[httpx.AsyncClient] = []

    async def make(
        email: str, role: str = "admin", sites: list[str] | None = None
    ) -> httpx.AsyncClient:
        await make_user(email, role, sites)
        transport = httpx.ASGITransport(
            app=app_state[0], client=(f"127.0.0.{len(opened) + 10}", 50100)
        )
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append(c)
        r = await sign_in(c, email)
        assert r.status_code == 303, r.text
        return c

    yield make
    for c in opened:
        await c.aclose()


async def post_form(
    client: httpx.AsyncClient, page: str, action: str, data: dict[str, Any]
) -> httpx.Response:
    """Submit a form as a browser does: read `page` for its CSRF token, post `data`."""
    r = await client.get(page)
    assert r.status_code == 200, r.text
    return await client.post(action, data={"csrf": csrf_of(r.text), **data})
