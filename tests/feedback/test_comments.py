"""Comments through the API: both moderation modes, the filters' holds, one per voter,
limits, reports reaching the hold threshold, paging, and durability through a PostgreSQL
stop (no 201/202 without a stored row)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import httpx

from service.dev.services import EmbeddedPostgres, EmbeddedRedis, free_port
from service.identity.principal import create_token
from tests.conftest import PollMaker
from tests.voting.test_vote_faults import PATIENCE, open_poll, running_app, until


def reader(ip: str | None = None, cookie: str | None = None) -> dict[str, str]:
    return {
        "X-Forwarded-For": ip or f"198.51.{secrets.randbelow(250)}.{secrets.randbelow(250)}",
        "Cookie": f"pv={cookie or secrets.token_urlsafe(12)}",
    }


async def comment(
    client: httpx.AsyncClient,
    poll: dict[str, Any],
    body: str,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> httpx.Response:
    return await client.post(
        f"/v1/polls/{poll['id']}/comments",
        json={"body": body, **fields},
        headers=headers or reader(),
    )


async def queue(admin: httpx.AsyncClient, poll: dict[str, Any], **query: str) -> dict[str, Any]:
    r = await admin.get(f"/v1/admin/polls/{poll['id']}/comments", params=query)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_comments_off_by_default(client, make_poll: PollMaker):
    poll = await make_poll()
    r = await comment(client, poll, "Ý kiến của tôi")
    assert (r.status_code, r.json()["error"]["code"]) == (403, "comments_off")


async def test_premoderated_comment_appears_only_after_approval(client, admin, make_poll):
    poll = await make_poll(comments="premoderated")
    r = await comment(client, poll, "Nên có thêm chỗ gửi xe", name="Minh")
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending"
    cid = r.json()["comment"]["id"]
    public = (await client.get(f"/v1/polls/{poll['id']}/comments")).json()
    assert public["items"] == []
    waiting = await queue(admin, poll, state="pending")
    assert [c["id"] for c in waiting["items"]] == [cid]
    assert waiting["counts"]["pending"] == 1
    r = await admin.post(f"/v1/admin/comments/{cid}/approve")
    assert (r.status_code, r.json()["state"]) == (200, "published")
    (shown,) = (await client.get(f"/v1/polls/{poll['id']}/comments")).json()["items"]
    assert (shown["id"], shown["name"], shown["body"]) == (cid, "Minh", "Nên có thêm chỗ gửi xe")


async def test_postmoderated_comment_is_public_at_once_unless_held(client, admin, make_poll):
    poll = await make_poll(comments="postmoderated")
    r = await comment(client, poll, "Ủng hộ phương án này")
    assert (r.status_code, r.json()["status"]) == (201, "published")
    held = await comment(client, poll, "Mua đất giá rẻ tại www.muadat.vn")
    assert (held.status_code, held.json()["status"]) == (202, "pending")
    items = (await client.get(f"/v1/polls/{poll['id']}/comments")).json()["items"]
    assert [c["body"] for c in items] == ["Ủng hộ phương án này"]
    (row,) = (await queue(admin, poll, state="held"))["items"]
    assert row["reason"] == "link"


async def test_one_comment_per_voter_unless_the_poll_allows_more(client, make_poll):
    poll = await make_poll(comments="premoderated")
    me = reader(cookie="same-reader-1")
    assert (await comment(client, poll, "Lần một", me)).status_code == 202
    again = await comment(client, poll, "Lần hai", me)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_commented")
    roomy = await make_poll(comments="premoderated", max_comments_per_voter=2)
    assert (await comment(client, roomy, "Một", me)).status_code == 202
    assert (await comment(client, roomy, "Hai", me)).status_code == 202
    assert (await comment(client, roomy, "Ba", me)).status_code == 409


async def test_bad_comments_are_refused_with_their_field(client, make_poll, state):
    poll = await make_poll(comments="premoderated")
    for body, fields, field in (
        ("   ", {}, "body"),
        ("x" * 1001, {}, "body"),
        ("chuông \x07 kêu", {}, "body"),
        ("hay", {"name": "n" * 61}, "name"),
    ):
        r = await comment(client, poll, body, **fields)
        assert (r.status_code, r.json()["error"]["field"]) == (400, field), r.text
    assert await state.pool.fetchval("SELECT count(*) FROM comments") == 0


async def test_comments_close_with_the_poll(client, admin, make_poll):
    poll = await make_poll(comments="premoderated")
    assert (await admin.post(f"/v1/admin/polls/{poll['id']}/close")).status_code == 200
    r = await comment(client, poll, "Muộn rồi")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "poll_closed")


async def test_comments_obey_the_sites_address_limit(client, admin, site, make_poll):
    r = await admin.patch(
        f"/v1/admin/sites/{site['slug']}", json={"rate_per_ip_per_minute": 1, "burst_per_ip": 1}
    )
    assert r.status_code == 200, r.text
    poll = await make_poll(comments="premoderated", dedupe_mode="none")
    ip = "192.0.2.10"
    assert (await comment(client, poll, "Một", reader(ip))).status_code == 202
    r = await comment(client, poll, "Hai", reader(ip))
    assert (r.status_code, r.json()["error"]["field"]) == (429, "address")
    assert int(r.headers["retry-after"]) >= 1


async def test_a_burst_from_one_network_is_held(client, admin, make_poll):
    poll = await make_poll(comments="postmoderated", dedupe_mode="none")
    answers = [
        (
            await comment(client, poll, f"Ý kiến thứ {i} về dự án", reader(f"192.0.2.{i}"))
        ).status_code
        for i in range(1, 8)
    ]
    assert answers == [201] * 5 + [202, 202]
    held = (await queue(admin, poll, state="held"))["items"]
    assert [c["reason"] for c in held] == ["burst", "burst"]


async def test_duplicates_are_held(client, admin, make_poll):
    poll = await make_poll(comments="postmoderated", dedupe_mode="none")
    text = "Tôi đồng ý với việc cấm xe phố Hàng Bồ cuối tuần"
    assert (await comment(client, poll, text)).status_code == 201
    assert (await comment(client, poll, text)).status_code == 202
    (held,) = (await queue(admin, poll, state="held"))["items"]
    assert held["reason"] == "duplicate"


async def test_three_distinct_reports_hold_a_comment(client, admin, make_poll):
    poll = await make_poll(comments="postmoderated")
    cid = (await comment(client, poll, "Bình luận bị báo cáo")).json()["comment"]["id"]
    url = f"/v1/polls/{poll['id']}/comments/{cid}/reports"
    same = reader("203.0.1.9", cookie="reporter-1")
    for _ in range(3):  # one reader reporting three times is one report
        r = await client.post(url, json={"reason": "offensive"}, headers=same)
        assert r.status_code == 202
    assert len((await client.get(f"/v1/polls/{poll['id']}/comments")).json()["items"]) == 1
    for n in (2, 3):  # three readers on three networks (docs/security/reports.md)
        headers = reader(f"203.0.{n}.9", cookie=f"reporter-{n}")
        assert (await client.post(url, json={"reason": "spam"}, headers=headers)).status_code == 202
    assert (await client.get(f"/v1/polls/{poll['id']}/comments")).json()["items"] == []
    (held,) = (await queue(admin, poll, state="held"))["items"]
    assert (held["reason"], held["reports"]) == ("reports", 3)
    bad = await client.post(url, json={"reason": "boring"}, headers=reader())
    assert bad.status_code == 400
    # restore puts it back where it was before the hold
    r = await admin.post(f"/v1/admin/comments/{cid}/restore")
    assert r.json()["state"] == "published"


async def test_published_comments_page_newest_first(client, admin, make_poll):
    poll = await make_poll(comments="postmoderated", dedupe_mode="none")
    for i in range(5):
        assert (await comment(client, poll, f"Bình luận số {i} khác nhau")).status_code == 201
    first = (await client.get(f"/v1/polls/{poll['id']}/comments", params={"limit": 3})).json()
    assert [c["body"][-11:] for c in first["items"]] == [f"{i} khác nhau" for i in (4, 3, 2)]
    rest = await client.get(
        f"/v1/polls/{poll['id']}/comments", params={"cursor": first["next_cursor"]}
    )
    assert [c["body"][13] for c in rest.json()["items"]] == ["1", "0"]
    assert rest.json()["next_cursor"] is None
    bad = await client.get(f"/v1/polls/{poll['id']}/comments", params={"cursor": "bm9wZQ=="})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "cursor")


async def test_bulk_moderation_and_audit(client, admin, make_poll, state):
    poll = await make_poll(comments="premoderated", dedupe_mode="none")
    ids = [
        (await comment(client, poll, f"Ý kiến {i} riêng")).json()["comment"]["id"] for i in range(3)
    ]
    r = await admin.post(
        "/v1/admin/comments/moderate",
        json={"ids": ids[:2], "action": "reject", "reason": "off_topic"},
    )
    assert r.status_code == 200, r.text
    assert {c["state"] for c in r.json()["items"]} == {"rejected"}
    counts = (await queue(admin, poll))["counts"]
    assert (counts["rejected"], counts["pending"]) == (2, 1)
    trail = await state.pool.fetch(
        "SELECT action, before->>'state' AS was, after->>'reason' AS why FROM audit_log"
        " WHERE object_type = 'comment' ORDER BY id"
    )
    assert [(t["action"], t["was"], t["why"]) for t in trail] == [
        ("comment.reject", "pending", "off_topic")
    ] * 2
    missing = await admin.post(
        "/v1/admin/comments/moderate",
        json={"ids": [ids[2], "00000000-0000-0000-0000-000000000000"], "action": "approve"},
    )
    assert missing.status_code == 404
    assert (await queue(admin, poll))["counts"]["published"] == 0  # all or nothing
    assert (await admin.post(f"/v1/admin/comments/{ids[2]}/explode")).status_code == 404
    assert (await admin.post("/v1/admin/comments/not-a-uuid/approve")).status_code == 404


async def test_moderation_scopes_and_sites(client, admin, make_poll, make_token):
    poll = await make_poll(comments="premoderated")
    cid = (await comment(client, poll, "Cần kiểm duyệt")).json()["comment"]["id"]
    reader_token = await make_token(scopes=["polls:read"])
    auth = {"Authorization": f"Bearer {reader_token}"}
    assert (
        await client.get(f"/v1/admin/polls/{poll['id']}/comments", headers=auth)
    ).status_code == 200
    r = await client.post(f"/v1/admin/comments/{cid}/approve", headers=auth)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "missing_scope")
    r = await admin.post("/v1/admin/sites", json={"slug": "ba-dinh", "name": "Ba Đình"})
    assert r.status_code == 201
    other = await make_token(scopes=["polls:read", "comments:moderate"], site="ba-dinh")
    auth = {"Authorization": f"Bearer {other}"}
    assert (await client.post(f"/v1/admin/comments/{cid}/approve", headers=auth)).status_code == 404
    r = await client.get("/v1/admin/sites/hoan-kiem/comments", headers=auth)
    assert r.status_code == 404
    r = await client.get("/v1/admin/sites/ba-dinh/comments", headers=auth)
    assert (r.status_code, r.json()["items"]) == (200, [])


async def test_form_comment_redirects_back_to_the_poll(client, make_poll):
    poll = await make_poll(comments="premoderated")
    r = await client.post(
        f"/v1/polls/{poll['id']}/comments?locale=en",
        data={"body": "Qua biểu mẫu"},
        headers=reader(),
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/embed/{poll['id']}?locale=en&comment=pending#comments"
    r = await client.post(f"/v1/polls/{poll['id']}/comments", data={"body": ""}, headers=reader())
    assert r.headers["location"].endswith("comment=comment_empty#comments")


async def test_comment_durable_through_a_postgres_stop(settings, scratch_dir: Path):
    pg = EmbeddedPostgres(scratch_dir / "pg-comments", free_port())
    redis = EmbeddedRedis(scratch_dir / "redis-comments", free_port(), appendonly=False)
    dsn = pg.start()
    redis.start()
    try:
        changed = settings.with_changes(database_url=dsn, redis_url=redis.url)
        async with running_app(changed) as (client, st):
            async with st.pool.acquire() as con:
                _, token = await create_token(
                    con, settings.secret_key, ["polls:write", "polls:read", "sites:admin"], None
                )
            poll = await open_poll(client, token)
            r = await client.patch(
                f"/v1/admin/polls/{poll['id']}",
                json={"comments": "premoderated", "dedupe_mode": "none"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200, r.text
            await until(lambda: _comments_on(client, poll))
            pg.stop()
            down = await asyncio.wait_for(comment(client, poll, "Khi máy chủ dừng"), PATIENCE)
            assert down.status_code == 503, down.text
            pg.start()
            answers: list[int] = []

            async def stored_again() -> bool:
                answers.append(
                    (await comment(client, poll, f"Sau khi chạy lại {len(answers)}")).status_code
                )
                return answers[-1] == 202

            await until(stored_again)
            bodies = [r["body"] for r in await st.pool.fetch("SELECT body FROM comments")]
            # Every 202 has its row; the 503 has none.
            assert bodies == [f"Sau khi chạy lại {len(answers) - 1}"]
    finally:
        redis.stop()
        pg.stop()


async def _comments_on(client: httpx.AsyncClient, poll: dict[str, Any]) -> bool:
    r = await client.get(f"/v1/polls/{poll['id']}")
    return bool(r.json()["comments"] == "premoderated")


async def test_export_carries_comments_and_their_states(client, admin, make_poll):
    poll = await make_poll(comments="premoderated")
    await comment(client, poll, 'Có dấu phẩy, và "ngoặc kép"')
    r = await admin.get(f"/v1/admin/polls/{poll['id']}/export", params={"what": "comments"})
    assert r.status_code == 200
    header, row = r.text.splitlines()
    assert header.startswith("id,created_at,vote_id,state,reason,name,body")
    assert ',pending,,,"Có dấu phẩy, và ""ngoặc kép"""' in row
    lines = await admin.get(
        f"/v1/admin/polls/{poll['id']}/export", params={"what": "comments", "format": "json"}
    )
    assert lines.json()["state"] == "pending"
    bad = await admin.get(f"/v1/admin/polls/{poll['id']}/export", params={"what": "nope"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "what")
