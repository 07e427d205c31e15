"""Placements over the HTTP API: add, list, remove (scoped, audited, validated), and the
public lookup's order: exact, then longest prefix, then priority, then newest, open only."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import PollMaker, TokenMaker

SITE = "https://portal.example.vn"


async def place(admin: httpx.AsyncClient, poll_id: str, match: str, priority: int = 0) -> Any:
    r = await admin.post(
        "/v1/admin/sites/hoan-kiem/placements",
        json={"match": match, "poll_id": poll_id, "priority": priority},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def placed(client: httpx.AsyncClient, page: str) -> str | None:
    r = await client.get("/v1/sites/hoan-kiem/placement", params={"page": page})
    if r.status_code == 404:
        assert r.json()["error"]["code"] == "no_placement"
        return None
    assert r.status_code == 200, r.text
    return str(r.json()["poll_id"])


async def test_exact_beats_prefix_longest_prefix_wins_then_priority_then_newest(
    admin: httpx.AsyncClient, client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    site_wide, news, news_high, news_new, article = [(await make_poll())["id"] for _ in range(5)]
    await place(admin, site_wide, f"{SITE}/*")
    await place(admin, news, f"{SITE}/tin-tuc/*")
    await place(admin, article, f"{SITE}/tin-tuc/bai-1")
    assert await placed(client, f"{SITE}/tin-tuc/bai-1") == article
    assert await placed(client, f"{SITE}/tin-tuc/bai-2") == news
    assert await placed(client, f"{SITE}/the-thao/bai-3") == site_wide
    # Same prefix: the higher priority wins, whatever its age ...
    await place(admin, news_high, f"{SITE}/tin-tuc/*", priority=5)
    await place(admin, news_new, f"{SITE}/tin-tuc/*")
    assert await placed(client, f"{SITE}/tin-tuc/bai-2") == news_high
    # ... and among equal priorities, the newest.
    await place(admin, news_new, f"{SITE}/tin-tuc/*", priority=5)
    assert await placed(client, f"{SITE}/tin-tuc/bai-2") == news_new


async def test_the_answer_and_its_caching(
    admin: httpx.AsyncClient, client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = (await make_poll())["id"]
    await place(admin, poll, f"{SITE}/tin-tuc/*")
    page = "HTTPS://PORTAL.example.vn:443/tin-tuc/bai-1?utm_source=zalo#top"
    r = await client.get("/v1/sites/hoan-kiem/placement", params={"page": page})
    assert r.status_code == 200
    assert r.json() == {"poll_id": poll, "embed_url": f"http://testserver/embed/{poll}"}
    assert r.headers["cache-control"] == "public, max-age=60"
    assert r.headers["access-control-allow-origin"] == "*"
    none = await client.get("/v1/sites/hoan-kiem/placement", params={"page": f"{SITE}/x"})
    assert none.status_code == 404
    assert none.json()["error"]["code"] == "no_placement"
    assert none.headers["cache-control"] == "public, max-age=60"


async def test_closed_and_draft_polls_are_skipped(
    admin: httpx.AsyncClient, client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    fallback = (await make_poll())["id"]
    exact = (await make_poll())["id"]
    draft = (await make_poll(open=False))["id"]
    await place(admin, fallback, f"{SITE}/*")
    await place(admin, exact, f"{SITE}/a")
    await place(admin, draft, f"{SITE}/a", priority=9)
    assert await placed(client, f"{SITE}/a") == exact
    r = await admin.post(f"/v1/admin/polls/{exact}/close")
    assert r.status_code == 200
    assert await placed(client, f"{SITE}/a") == fallback
    await admin.post(f"/v1/admin/polls/{fallback}/close")
    assert await placed(client, f"{SITE}/a") is None


async def test_off_site_and_bad_pages_are_refused(
    admin: httpx.AsyncClient, client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    await place(admin, (await make_poll())["id"], f"{SITE}/*")
    for page, code in [
        ("https://evil.example/tin-tuc/a", "page_not_allowed"),
        ("http://portal.example.vn/a", "page_not_allowed"),  # another scheme, another origin
        ("not a url", "invalid"),
        ("", "invalid"),
    ]:
        r = await client.get("/v1/sites/hoan-kiem/placement", params={"page": page})
        assert r.status_code == 400, (page, r.text)
        assert r.json()["error"] == {
            "code": code,
            "message": r.json()["error"]["message"],
            "field": "page",
        }
    r = await client.get("/v1/sites/hoan-kiem/placement")
    assert r.status_code == 400
    r = await client.get("/v1/sites/nowhere/placement", params={"page": f"{SITE}/a"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


async def test_create_validates(admin: httpx.AsyncClient, make_poll: PollMaker) -> None:
    poll = (await make_poll())["id"]
    url = "/v1/admin/sites/hoan-kiem/placements"
    for body, field in [
        ({"match": "https://evil.example/*", "poll_id": poll}, "match"),
        ({"match": "tin-tuc/*", "poll_id": poll}, "match"),
        ({"match": f"{SITE}/" + "a" * 600, "poll_id": poll}, "match"),
        ({"match": f"{SITE}/*", "poll_id": "nope"}, "poll_id"),
        ({"match": f"{SITE}/*", "poll_id": poll, "priority": 5000}, "priority"),
        ({"match": f"{SITE}/*", "poll_id": poll, "extra": 1}, "extra"),
    ]:
        r = await admin.post(url, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["field"] == field, r.text


async def test_at_most_so_many_placements_a_site(
    admin: httpx.AsyncClient, make_poll: PollMaker, state: Any, monkeypatch: Any
) -> None:
    from service.placements import store

    monkeypatch.setattr(store, "MAX_PER_SITE", 2)
    poll = (await make_poll())["id"]
    await place(admin, poll, f"{SITE}/a")
    await place(admin, poll, f"{SITE}/b")
    r = await admin.post(
        "/v1/admin/sites/hoan-kiem/placements", json={"match": f"{SITE}/c", "poll_id": poll}
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "too_many_placements"


async def test_list_delete_and_audit(
    admin: httpx.AsyncClient, client: httpx.AsyncClient, make_poll: PollMaker, state: Any
) -> None:
    poll = (await make_poll())["id"]
    low = await place(admin, poll, f"{SITE}/*")
    high = await place(admin, poll, f"{SITE}/tin-tuc/*", priority=3)
    assert low["kind"] == "prefix" and low["site"] == "hoan-kiem"
    r = await admin.get("/v1/admin/sites/hoan-kiem/placements")
    assert [p["id"] for p in r.json()["items"]] == [high["id"], low["id"]]
    assert await placed(client, f"{SITE}/tin-tuc/a") == poll
    r = await admin.delete(f"/v1/admin/placements/{high['id']}")
    assert r.status_code == 204
    r = await admin.delete(f"/v1/admin/placements/{low['id']}")
    assert r.status_code == 204
    assert await placed(client, f"{SITE}/tin-tuc/a") is None  # the change is seen at once
    r = await admin.delete(f"/v1/admin/placements/{low['id']}")
    assert r.status_code == 404
    rows = await state.pool.fetch(
        "SELECT action, object_id, before, after FROM audit_log"
        " WHERE object_type = 'placement' ORDER BY id"
    )
    assert [(r["action"], r["object_id"]) for r in rows] == [
        ("create", str(low["id"])),
        ("create", str(high["id"])),
        ("delete", str(high["id"])),
        ("delete", str(low["id"])),
    ]
    assert rows[0]["after"]["match"] == f"{SITE}/*"
    assert rows[3]["before"]["poll_id"] == poll


async def test_scope_and_site_isolation(
    admin: httpx.AsyncClient,
    client: httpx.AsyncClient,
    make_poll: PollMaker,
    make_token: TokenMaker,
) -> None:
    poll = (await make_poll())["id"]
    mine = await place(admin, poll, f"{SITE}/*")
    r = await admin.post(
        "/v1/admin/sites", json={"slug": "other", "name": "Other", "allowed_origins": [SITE]}
    )
    assert r.status_code == 201
    reader = await make_token(scopes=["polls:read"])
    other = await make_token(scopes=["polls:write"], site="other")
    own = await make_token(scopes=["polls:write"], site="hoan-kiem")
    url = "/v1/admin/sites/hoan-kiem/placements"

    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    r = await client.get(url, headers=auth(reader))
    assert r.status_code == 403
    r = await client.get(url)
    assert r.status_code == 401
    r = await client.get(url, headers=auth(other))
    assert r.status_code == 404
    r = await client.post(url, json={"match": f"{SITE}/a", "poll_id": poll}, headers=auth(other))
    assert r.status_code == 404
    r = await client.delete(f"/v1/admin/placements/{mine['id']}", headers=auth(other))
    assert r.status_code == 404
    # The other site's editor cannot place this site's poll on their site either.
    r = await client.post(
        "/v1/admin/sites/other/placements",
        json={"match": f"{SITE}/a", "poll_id": poll},
        headers=auth(other),
    )
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "poll_id"
    r = await client.get(url, headers=auth(own))
    assert [p["id"] for p in r.json()["items"]] == [mine["id"]]
    r = await client.delete(f"/v1/admin/placements/{mine['id']}", headers=auth(own))
    assert r.status_code == 204
