"""Reports cannot hide a comment on one person's word (docs/security/reports.md): a report
counts only from a reader (cookie or widget token), once per network, within the site's
limits per address and network; three networks hold. And the comment quota cannot be
reset by dropping the cookie or stepping through an IPv6 /64."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service.feedback import comments
from service.identity.keys import Hasher
from tests.conftest import PollMaker
from tests.feedback.test_comments import comment, queue


def at(ip: str, cookie: str | None = None) -> dict[str, str]:
    headers = {"X-Forwarded-For": ip}
    if cookie:
        headers["Cookie"] = f"pv={cookie}"
    return headers


async def published_one(client: httpx.AsyncClient, poll: dict[str, Any]) -> str:
    r = await comment(client, poll, "Một ý kiến bị báo cáo", at("192.0.2.200", "author-00001"))
    assert r.status_code == 201, r.text
    return str(r.json()["comment"]["id"])


def visible(r: httpx.Response) -> int:
    return len(r.json()["items"])


async def test_reports_without_a_reader_count_for_nothing(client, make_poll: PollMaker):
    """The finding: 21 cookieless POSTs from one address hid every comment."""
    poll = await make_poll(comments="postmoderated")
    cid = await published_one(client, poll)
    url = f"/v1/polls/{poll['id']}/comments/{cid}/reports"
    for _ in range(21):
        r = await client.post(url, json={"reason": "spam"}, headers=at("203.0.113.9"))
        assert (r.status_code, r.json()["error"]["code"]) == (403, "reader_required")
    assert visible(await client.get(f"/v1/polls/{poll['id']}/comments")) == 1


async def test_three_readers_on_one_network_do_not_hold(client, admin, make_poll: PollMaker):
    poll = await make_poll(comments="postmoderated")
    cid = await published_one(client, poll)
    url = f"/v1/polls/{poll['id']}/comments/{cid}/reports"
    # Five readers of one /24, then two of one IPv6 /64: two networks, two counted reports.
    for n in range(5):
        r = await client.post(
            url, json={"reason": "spam"}, headers=at(f"198.51.100.{n}", f"r-net-a-{n}")
        )
        assert r.status_code == 202
    for n, ip in enumerate(("2001:db8:5:6::1", "2001:db8:5:6:ffff::2")):
        r = await client.post(url, json={"reason": "spam"}, headers=at(ip, f"r-net-b-{n}"))
        assert r.status_code == 202
    assert visible(await client.get(f"/v1/polls/{poll['id']}/comments")) == 1
    (item,) = (await queue(admin, poll, state="published"))["items"]
    assert item["reports"] == 2
    # A third network's reader makes three readers on three networks: held for review.
    third = at("203.0.113.50", "r-net-c-1")
    r = await client.post(url, json={"reason": "offensive"}, headers=third)
    assert r.status_code == 202
    assert visible(await client.get(f"/v1/polls/{poll['id']}/comments")) == 0
    (held,) = (await queue(admin, poll, state="held"))["items"]
    assert (held["reason"], held["reports"]) == ("reports", 3)
    # The moderator sees which networks reported it: short keyed hashes, never addresses.
    assert len(held["report_networks"]) == 3
    assert all(len(n) == 8 and int(n, 16) >= 0 for n in held["report_networks"])
    assert not any("198.51" in n or "2001" in n for n in held["report_networks"])


async def test_report_networks_are_the_networks_keyed_hashes(
    client, admin, make_poll: PollMaker, settings
):
    poll = await make_poll(comments="postmoderated")
    cid = await published_one(client, poll)
    url = f"/v1/polls/{poll['id']}/comments/{cid}/reports"
    r = await client.post(url, json={"reason": "spam"}, headers=at("2001:db8:7::9", "r-v6-one"))
    assert r.status_code == 202
    (item,) = (await queue(admin, poll, state="published"))["items"]
    expected = Hasher(settings.secret_key)(poll["id"], "net", "2001:db8:7::/64")
    assert item["report_networks"] == [expected[:8]]


async def test_a_widget_token_stands_for_a_reader_without_a_cookie(client, make_poll: PollMaker):
    poll = await make_poll(comments="postmoderated")
    cid = await published_one(client, poll)
    url = f"/v1/polls/{poll['id']}/comments/{cid}/reports"
    token = (await client.get(f"/v1/polls/{poll['id']}/token")).json()["token"]
    r = await client.post(url, json={"reason": "spam", "token": token}, headers=at("192.0.2.77"))
    assert r.status_code == 202
    forged = token[:-4] + "0000"
    r = await client.post(url, json={"reason": "spam", "token": forged}, headers=at("192.0.2.78"))
    assert r.status_code == 403


async def test_reports_are_rate_limited_per_address(client, admin, site, make_poll: PollMaker):
    r = await admin.patch(
        f"/v1/admin/sites/{site['slug']}", json={"rate_per_ip_per_minute": 1, "burst_per_ip": 2}
    )
    assert r.status_code == 200, r.text
    poll = await make_poll(comments="postmoderated", dedupe_mode="none")
    ids = [
        (await comment(client, poll, f"Ý kiến riêng số {i}", at(f"192.0.{i}.1"))).json()["comment"][
            "id"
        ]
        for i in range(4)
    ]
    answers = []
    for n, cid in enumerate(ids):
        r = await client.post(
            f"/v1/polls/{poll['id']}/comments/{cid}/reports",
            json={"reason": "spam"},
            headers=at("203.0.113.66", f"fresh-cookie-{n}"),
        )
        answers.append(r.status_code)
    assert answers == [202, 202, 429, 429]
    # The report budget is its own: the address may still comment.
    assert (
        await comment(client, poll, "Vẫn bình luận được", at("203.0.113.66"))
    ).status_code == 201


async def test_dropping_the_cookie_gives_no_fresh_comment_quota(client, make_poll: PollMaker):
    """The finding: 30 cookieless comments, 5 published, then only the rate limit."""
    poll = await make_poll(comments="postmoderated")
    answers = [
        (await comment(client, poll, f"Ý kiến không cookie {i}", at("203.0.113.80"))).status_code
        for i in range(4)
    ]
    assert answers == [201, 409, 409, 409]


async def test_an_ipv6_64_is_one_commenter_like_one_voter(
    client, make_poll: PollMaker, state, settings
):
    """Votes key an IPv6 client by its /64; comments did by the full address (the drift)."""
    poll = await make_poll(comments="postmoderated")
    first = await comment(client, poll, "Từ một mạng IPv6", at("2001:db8:9:1::1"))
    assert first.status_code == 201
    again = await comment(client, poll, "Địa chỉ khác, cùng /64", at("2001:db8:9:1:abcd::7"))
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_commented")
    stored = await state.pool.fetchval(
        "SELECT ip_hash FROM comments WHERE poll_id = $1", poll["id"]
    )
    assert stored == Hasher(settings.secret_key)(poll["id"], "ip", "2001:db8:9:1::/64")


async def test_one_network_has_a_bounded_quota(
    client, make_poll: PollMaker, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(comments, "NETWORK_QUOTA_READERS", 2)
    poll = await make_poll(comments="postmoderated")
    answers = []
    for n in range(3):
        r = await comment(
            client, poll, f"Người đọc {n} cùng mạng", at(f"198.51.100.{n}", f"nq-{n}-reader")
        )
        answers.append(r.status_code)
    assert answers == [201, 201, 409]
    other = await comment(client, poll, "Một mạng khác", at("198.51.101.1", "nq-other-1"))
    assert other.status_code == 201
