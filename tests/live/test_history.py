"""Vote history (service/live/history.py) as /dashboard/{id}/data serves it: votes per
minute from Redis and the ledger, top referring articles, integrity figures for admins."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from service.voting.keys import minutes_key

from .sse import PollMaker, vote


async def test_dashboard_data(
    anon: httpx.AsyncClient, admin: httpx.AsyncClient, state: dict[str, Any], make_poll: PollMaker
) -> None:
    poll = await make_poll()
    for page in (
        "https://portal.example.vn/a",
        "https://portal.example.vn/a",
        "https://portal.example.vn/b?utm=x",
    ):
        await vote(admin, poll, page=page)
    now_minute = int(time.time()) // 60
    redis = state.redis
    await redis.hset(minutes_key(poll["id"]), str(now_minute - 7 * 60), 5)  # past six hours
    async with state.pool.acquire() as con:
        await con.execute(
            "INSERT INTO votes (id, poll_id, option_ids, cast_at)"
            " VALUES ($1, $2, $3, now() - interval '10 hours')",
            uuid.uuid4(),
            poll["id"],
            [int(poll["options"][0]["id"])],
        )

    r = await anon.get(f"/dashboard/{poll['id']}/data?hours=12")
    assert r.status_code == 200
    data = r.json()
    minutes = dict(data["minutes"])
    assert sum(v for m, v in minutes.items() if m > now_minute - 5) == 3
    assert 1 in {v for m, v in minutes.items() if m < now_minute - 6 * 60}  # from the ledger
    assert data["articles"][:2] == [
        {"url": "https://portal.example.vn/a", "votes": 2},
        {"url": "https://portal.example.vn/b", "votes": 1},
    ]
    assert data["integrity"] is None
    # Minutes older than six hours are trimmed from Redis when read.
    assert await redis.hexists(minutes_key(poll["id"]), str(now_minute - 7 * 60)) == 0

    link = (await admin.post(f"/v1/admin/polls/{poll['id']}/dashboard-link")).json()
    key = link["url"].split("key=")[1]
    data = (await anon.get(f"/dashboard/{poll['id']}/data?key={key}")).json()
    assert data["integrity"]["accepted"] == 3
    assert (await anon.get(f"/dashboard/{poll['id']}/data?hours=99")).status_code == 400


async def test_top_articles_list_only_the_sites_own_pages(
    anon: httpx.AsyncClient, admin: httpx.AsyncClient, state: dict[str, Any], make_poll: PollMaker
) -> None:
    # The site allows https://portal.example.vn only (tests/conftest.py).
    poll = await make_poll()
    on_site = "https://portal.example.vn/tin-tuc/bai-1"
    off_site = [
        "https://evil.example/buy-now",
        "https://portal.example.vn.evil.example/a",
        "http://portal.example.vn/plain-http",
        "https://portal.example.vn:8443/other-port",
        "https://user:pw@portal.example.vn/credentials",
    ]
    for page in [on_site, on_site, *off_site, *off_site]:
        await vote(admin, poll, page=page)
    stored = await state.pool.fetch("SELECT page_url FROM votes WHERE poll_id = $1", poll["id"])
    assert sorted(r["page_url"] or "" for r in stored) == [""] * 10 + [on_site] * 2
    # A row kept before the rule (or on an origin since removed) stays off the list too.
    async with state.pool.acquire() as con:
        await con.execute(
            "INSERT INTO votes (id, poll_id, option_ids, page_url) VALUES ($1, $2, $3, $4)",
            uuid.uuid4(),
            poll["id"],
            [int(poll["options"][0]["id"])],
            "https://evil.example/old",
        )
    data = (await anon.get(f"/dashboard/{poll['id']}/data")).json()
    assert data["articles"] == [{"url": on_site, "votes": 2}]
