"""placements/cache.py: a page view's lookup asks no database, a change announced by any
process is seen, and the cache stays within its bound."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.core.errors import BadRequest, NotFound
from service.placements import cache
from service.placements.cache import PlacementCache
from service.polls.cache import PollCache
from service.storage.db import create_pool
from tests.conftest import PollMaker

SITE = "https://portal.example.vn"


async def _place(admin: httpx.AsyncClient, poll_id: str, match: str, priority: int = 0) -> None:
    r = await admin.post(
        "/v1/admin/sites/hoan-kiem/placements",
        json={"match": match, "poll_id": poll_id, "priority": priority},
    )
    assert r.status_code == 201, r.text


async def test_an_announced_change_is_seen_and_a_page_view_needs_no_database(
    state: Any, admin: httpx.AsyncClient, make_poll: PollMaker, database_url: str
) -> None:
    # Another process: its own pool, poll cache and placement cache, on the same Redis.
    pool = await create_pool(database_url, 2)
    other = PlacementCache(pool, state.redis, PollCache(pool, state.redis))
    dropped = asyncio.Event()
    real_drop = other.drop

    def on_drop(slug: str) -> None:
        real_drop(slug)
        dropped.set()

    other.drop = on_drop  # type: ignore[method-assign]
    listener = asyncio.create_task(other.listen())
    try:
        await other.listening.wait()  # its own channel and the poll caches'
        first = (await make_poll())["id"]
        await _place(admin, first, f"{SITE}/tin-tuc/*")
        await dropped.wait()
        assert await other.lookup("hoan-kiem", f"{SITE}/tin-tuc/a") == first
        dropped.clear()
        second = (await make_poll())["id"]
        await _place(admin, second, f"{SITE}/tin-tuc/*", priority=5)  # announced by this app
        await dropped.wait()
        assert await other.lookup("hoan-kiem", f"{SITE}/tin-tuc/a") == second
        # No database at all now: the lookups still answer, from memory.
        await pool.close()
        assert await other.lookup("hoan-kiem", f"{SITE}/tin-tuc/b?utm_source=fb") == second
        with pytest.raises(NotFound) as missing:
            await other.lookup("hoan-kiem", f"{SITE}/the-thao/c")
        assert missing.value.code == "no_placement"
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await pool.close()


async def test_sites_are_kept_within_a_bound(
    state: Any, site: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "MAX_SITES", 3)
    placements = PlacementCache(state.pool, state.redis, state.polls)
    assert await placements.site("hoan-kiem") is not None
    for n in range(50):
        assert await placements.site(f"no-such-site-{n}") is None
    assert len(placements._entries) <= 3
    # A slug that cannot exist is neither looked up nor remembered.
    assert await placements.site("Not a slug\x00") is None
    assert "Not a slug\x00" not in placements._entries


async def test_a_dedicated_app_answers_page_views_with_its_database_pool_closed(
    state: Any, admin: httpx.AsyncClient, make_poll: PollMaker, settings: Any
) -> None:
    poll = (await make_poll())["id"]
    await _place(admin, poll, f"{SITE}/tin-tuc/*")
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        services = manager._state["services"]
        # Each cache starts clean once it hears announcements: warm them after that.
        await services.polls.listening.wait()
        await services.placements.listening.wait()
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            url = "/v1/sites/hoan-kiem/placement"
            first = await c.get(url, params={"page": f"{SITE}/tin-tuc/a"})
            assert first.status_code == 200
            await services.pool.close()  # from here on, any query would fail
            for page, status in [
                (f"{SITE}/tin-tuc/b", 200),
                (f"{SITE}/tin-tuc/c?fbclid=1#x", 200),
                (f"{SITE}/the-thao/d", 404),
                ("https://evil.example/a", 400),
            ]:
                r = await c.get(url, params={"page": page})
                assert r.status_code == status, (page, r.text)
            assert r.json()["error"]["code"] == "page_not_allowed"


async def test_a_change_of_the_sites_origins_reaches_the_cache(
    state: Any, admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = (await make_poll())["id"]
    await _place(admin, poll, f"{SITE}/*")
    dropped = asyncio.Event()
    # A listener of its own, so that the test knows when the announcement has arrived.
    watcher = PlacementCache(state.pool, state.redis, state.polls)
    real_drop = watcher.drop

    def on_drop(slug: str) -> None:
        real_drop(slug)
        dropped.set()

    watcher.drop = on_drop  # type: ignore[method-assign]
    listener = asyncio.create_task(watcher.listen())
    try:
        await watcher.listening.wait()
        assert await watcher.lookup("hoan-kiem", f"{SITE}/a") == poll
        r = await admin.patch(
            "/v1/admin/sites/hoan-kiem", json={"allowed_origins": ["https://moi.example.vn"]}
        )
        assert r.status_code == 200
        await dropped.wait()
        with pytest.raises(BadRequest) as refused:
            await watcher.lookup("hoan-kiem", f"{SITE}/a")
        assert refused.value.code == "page_not_allowed"
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
