"""The vote path against real PostgreSQL and Redis: counting, de-duplication, limits,
idempotency, identity, windows, results."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import httpx
import pytest

from service.voting.identity import Hasher, sign_voter, widget_token
from tests.conftest import SECRET, PollMaker


async def vote(
    client: httpx.AsyncClient,
    poll: dict[str, Any],
    *choices: str,
    cookie: str | None = None,
    ip: str | None = None,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> httpx.Response:
    """POST a vote; choices default to the first option; cookie/ip default to fresh ones."""
    h = {
        "X-Forwarded-For": ip or f"203.0.{secrets.randbelow(250)}.{secrets.randbelow(250)}",
        "Cookie": f"pv={cookie or secrets.token_urlsafe(12)}",
        **(headers or {}),
    }
    picked = list(choices) or [poll["options"][0]["id"]]
    return await client.post(
        f"/v1/polls/{poll['id']}/votes", json={"choices": picked, **body}, headers=h
    )


async def ledger_total(state: dict[str, Any], poll_id: str) -> int:
    total: int = await state.pool.fetchval("SELECT count(*) FROM votes WHERE poll_id = $1", poll_id)
    return total


async def test_500_concurrent_distinct_voters_count_exactly(client, make_poll: PollMaker, state):
    poll = await make_poll()
    options = [o["id"] for o in poll["options"]]
    answers = await asyncio.gather(*(vote(client, poll, options[i % 3]) for i in range(500)))
    assert [r.status_code for r in answers] == [201] * 500
    results = (await client.get(f"/v1/polls/{poll['id']}/results")).json()
    assert results["total"] == 500
    assert [o["votes"] for o in results["options"]] == [167, 167, 166]
    assert sum(o["percent"] for o in results["options"]) == 100
    assert await ledger_total(state, poll["id"]) == 500


async def test_ledger_ids_are_time_ordered_uuids(client, make_poll: PollMaker, state):
    """UUIDv7: the primary-key index grows at its right edge (less WAL per vote)."""
    poll = await make_poll()
    before = time.time()
    for _ in range(3):
        assert (await vote(client, poll)).status_code == 201
    rows = await state.pool.fetch(
        "SELECT id FROM votes WHERE poll_id = $1 ORDER BY cast_at", poll["id"]
    )
    ids = [row["id"] for row in rows]
    assert [i.version for i in ids] == [7, 7, 7]
    stamps = [i.int >> 80 for i in ids]
    assert stamps == sorted(stamps)
    assert before * 1000 - 1000 <= stamps[0] <= time.time() * 1000 + 1000


async def test_the_ledger_row_holds_every_field(client, make_poll: PollMaker, state, settings):
    poll = await make_poll(kind="multiple", max_choices=2)
    picked = [poll["options"][0]["id"], poll["options"][2]["id"]]
    answer = await vote(
        client,
        poll,
        *picked,
        cookie="ledger-voter-1",
        ip="203.0.113.50",
        headers={"Idempotency-Key": "k-1", "User-Agent": "Mozilla/5.0 Firefox/130.0"},
        page="https://portal.example.vn/tin tuc/a|b?session=secret#x",
    )
    assert answer.status_code == 201, answer.text
    row = await state.pool.fetchrow("SELECT * FROM votes WHERE poll_id = $1", poll["id"])
    hasher = Hasher(settings.secret_key)
    assert row["option_ids"] == [int(i) for i in picked]
    assert row["voter_hash"] == row["voter_key"] == hasher(poll["id"], "voter", "ledger-voter-1")
    assert row["ip_hash"] == hasher(poll["id"], "ip", "203.0.113.50")
    assert row["network_hash"] == hasher(poll["id"], "net", "203.0.113.0/24")
    assert row["ip_key"] is None  # cookie mode: no IP de-duplication key
    assert row["idempotency_key"] == hasher(poll["id"], "idem", "k-1")
    # The article, without its query or fragment; spaces and bars kept as sent.
    assert row["page_url"] == "https://portal.example.vn/tin tuc/a|b"
    assert row["user_agent"] == "Firefox"


async def test_a_page_url_with_control_characters_is_dropped_not_fatal(
    client, make_poll: PollMaker, state
):
    """A NUL in a text makes PostgreSQL refuse the whole ledger batch: one voter's odd
    page URL (a form post can carry %00) must not cost the votes batched with it."""
    poll = await make_poll()
    option = poll["options"][0]["id"]
    odd = client.post(
        f"/v1/polls/{poll['id']}/votes",
        content=f"choice={option}&page=https%3A%2F%2Fa.example%2Fx%00y%1Ez",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": "pv=odd-page-1"},
    )
    plain = [vote(client, poll, page="https://portal.example.vn/bai-2") for _ in range(20)]
    answers = await asyncio.gather(odd, *plain)
    assert answers[0].status_code == 303
    assert answers[0].headers["location"].endswith("state=voted")
    assert [r.status_code for r in answers[1:]] == [201] * 20
    pages = await state.pool.fetch(
        "SELECT page_url, count(*) FROM votes WHERE poll_id = $1 GROUP BY 1 ORDER BY 1",
        poll["id"],
    )
    assert [tuple(row) for row in pages] == [("https://portal.example.vn/bai-2", 20), (None, 1)]


async def test_one_voter_sending_50_at_once_counts_once(client, admin, make_poll, state):
    poll = await make_poll()
    answers = await asyncio.gather(
        *(vote(client, poll, cookie="same-voter-123") for _ in range(50))
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * 49
    refused = next(r for r in answers if r.status_code == 409).json()
    assert refused["error"]["code"] == "already_voted"
    assert await ledger_total(state, poll["id"]) == 1
    figures = (await admin.get(f"/v1/admin/polls/{poll['id']}/integrity")).json()
    assert (figures["accepted"], figures["duplicate"]) == (1, 49)


async def test_rate_limit_burst_lets_exactly_the_burst_through(admin, make_poll: PollMaker, state):
    r = await admin.patch(
        "/v1/admin/sites/hoan-kiem", json={"rate_per_ip_per_minute": 6, "burst_per_ip": 7}
    )
    assert r.status_code == 200, r.text
    poll = await make_poll()
    answers = await asyncio.gather(*(vote(admin, poll, ip="198.51.100.9") for _ in range(20)))
    codes = [r.status_code for r in answers]
    assert codes.count(201) == 7
    assert codes.count(429) == 13
    limited = next(r for r in answers if r.status_code == 429)
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 10
    assert "limit=7" in limited.headers["RateLimit"]
    # A neighbour on the same /24 has its own per-IP budget.
    assert (await vote(admin, poll, ip="198.51.100.10")).status_code == 201


async def test_network_limit_and_allowlist(admin, make_poll: PollMaker):
    r = await admin.patch(
        "/v1/admin/sites/hoan-kiem", json={"rate_per_network_per_minute": 1, "burst_per_network": 3}
    )
    assert r.status_code == 200, r.text
    poll = await make_poll()
    codes = [(await vote(admin, poll, ip=f"192.0.2.{i}")).status_code for i in range(1, 6)]
    assert codes == [201, 201, 201, 429, 429]
    # A school behind one address: its network is exempt from the limits.
    r = await admin.patch(
        "/v1/admin/sites/hoan-kiem", json={"allowlisted_networks": ["192.0.2.0/24"]}
    )
    assert r.status_code == 200, r.text
    codes = [(await vote(admin, poll, ip=f"192.0.2.{i}")).status_code for i in range(10, 15)]
    assert codes == [201] * 5


async def test_spoofed_forwarded_for_from_untrusted_peer_is_ignored(app_state, make_poll, admin):
    r = await admin.patch(
        "/v1/admin/sites/hoan-kiem", json={"rate_per_ip_per_minute": 1, "burst_per_ip": 2}
    )
    assert r.status_code == 200
    poll = await make_poll()
    transport = httpx.ASGITransport(app=app_state[0], client=("198.51.100.77", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as outsider:
        # Each request claims a new address; all come from one untrusted socket peer.
        codes = [(await vote(outsider, poll, ip=f"10.9.{i}.1")).status_code for i in range(4)]
    assert codes == [201, 201, 429, 429]


async def test_trusted_proxy_chain_uses_rightmost_untrusted_hop(client, make_poll, state):
    poll = await make_poll(dedupe_mode="ip")
    # The left-most entry is whatever the client wrote; the right-most untrusted hop is
    # the address our proxy saw.
    first = await vote(client, poll, ip="1.1.1.1, 203.0.113.50")
    second = await vote(client, poll, ip="9.9.9.9, 203.0.113.50")
    assert (first.status_code, second.status_code) == (201, 409)


async def test_idempotent_retry_counts_once_and_answers_the_same(client, make_poll, state):
    poll = await make_poll()
    key = {"Idempotency-Key": "retry-7f3a"}
    first = await vote(client, poll, cookie="voter-aaaa", headers=key)
    again = await vote(client, poll, cookie="voter-bbbb", headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["replayed"] is True
    assert first.json()["replayed"] is False
    assert await ledger_total(state, poll["id"]) == 1
    results = (await client.get(f"/v1/polls/{poll['id']}/results")).json()
    assert results["total"] == 1


async def test_bad_votes_are_refused_with_the_field_named(client, admin, make_poll):
    poll = await make_poll(kind="multiple", min_choices=1, max_choices=2)
    a, b, c = (o["id"] for o in poll["options"])
    cases = [
        ({"choices": []}, "invalid_choice_count"),
        ({"choices": [a, b, c]}, "invalid_choice_count"),
        ({"choices": [a, a]}, "invalid"),
        ({"choices": ["999999"]}, "unknown_option"),
        ({"choices": "1"}, "invalid"),
        ({"choices": [a], "extra": 1}, "invalid"),
    ]
    for body, code in cases:
        r = await client.post(f"/v1/polls/{poll['id']}/votes", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["code"] == code, body
    r = await client.post(
        f"/v1/polls/{poll['id']}/votes",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    r = await client.post(f"/v1/polls/{poll['id']}/votes", content=b"x" * 70_000)
    assert r.status_code == 413
    assert (await client.post("/v1/polls/nope/votes", json={"choices": [a]})).status_code == 404
    assert (await vote(client, poll, a, b)).status_code == 201
    figures = (await admin.get(f"/v1/admin/polls/{poll['id']}/integrity")).json()
    assert figures["invalid"] == 8
    assert figures["accepted"] == 1


async def test_closed_and_not_yet_open_polls_refuse(client, admin, make_poll: PollMaker):
    draft = await make_poll(open=False)
    assert (await vote(client, draft)).status_code == 404  # drafts do not exist publicly
    later = await make_poll(opens_at="2999-01-01T00:00:00+07:00")
    r = await vote(client, later)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "poll_not_open")
    poll = await make_poll()
    assert (await admin.post(f"/v1/admin/polls/{poll['id']}/close")).status_code == 200
    r = await vote(client, poll)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "poll_closed")
    figures = (await admin.get(f"/v1/admin/polls/{poll['id']}/integrity")).json()
    assert figures["closed"] == 1


async def test_cookie_is_set_when_absent_and_identifies_the_voter(client, make_poll):
    poll = await make_poll()
    r = await client.post(
        f"/v1/polls/{poll['id']}/votes",
        json={"choices": [poll["options"][0]["id"]]},
        headers={"X-Forwarded-For": "203.0.113.1"},
    )
    assert r.status_code == 201
    cookie = r.headers["set-cookie"]
    for part in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Max-Age="):
        assert part in cookie
    voter = r.cookies["pv"]
    again = await vote(client, poll, cookie=voter)
    assert again.status_code == 409


async def test_ip_mode_window_and_nothing_raw_is_stored(client, make_poll, state, settings):
    poll = await make_poll(dedupe_mode="ip", dedupe_window_hours=1)
    assert (await vote(client, poll, ip="203.0.113.200", cookie="v-one-1234")).status_code == 201
    assert (await vote(client, poll, ip="203.0.113.200", cookie="v-two-1234")).status_code == 409
    assert (await vote(client, poll, ip="203.0.113.201", cookie="v-two-1234")).status_code == 201
    rows = await state.pool.fetch("SELECT * FROM votes WHERE poll_id = $1", poll["id"])
    stored = " ".join(str(v) for row in rows for v in row.values())
    assert "203.0.113.200" not in stored and "v-one-1234" not in stored
    hasher = Hasher(settings.secret_key)
    assert hasher(poll["id"], "ip", "203.0.113.200") in {r["ip_hash"] for r in rows}
    keys = [k.decode() for k in await state.redis.keys("*")]
    assert not any("203.0.113" in k or "v-one" in k for k in keys)


async def test_cookie_ip_mode_needs_both_new_and_a_refusal_leaves_no_mark(client, make_poll, state):
    poll = await make_poll(dedupe_mode="cookie_ip", dedupe_window_hours=1)
    assert (await vote(client, poll, ip="203.0.113.210", cookie="ci-one-1234")).status_code == 201
    # Same browser, another address; another browser, the same address: both refused.
    assert (await vote(client, poll, ip="203.0.113.211", cookie="ci-one-1234")).status_code == 409
    assert (await vote(client, poll, ip="203.0.113.210", cookie="ci-two-1234")).status_code == 409
    # The refused attempt marked neither its browser nor its address: both are still free.
    assert (await vote(client, poll, ip="203.0.113.212", cookie="ci-two-1234")).status_code == 201
    assert (await vote(client, poll, ip="203.0.113.211", cookie="ci-six-1234")).status_code == 201
    assert await ledger_total(state, poll["id"]) == 3
    results = (await client.get(f"/v1/polls/{poll['id']}/results")).json()
    assert results["total"] == 3


async def test_none_mode_counts_every_vote(client, make_poll, state):
    poll = await make_poll(dedupe_mode="none")
    codes = [(await vote(client, poll, cookie="same-voter-xyz")).status_code for _ in range(3)]
    assert codes == [201, 201, 201]
    assert await ledger_total(state, poll["id"]) == 3


async def test_verified_mode_needs_a_valid_site_signature(client, admin, make_poll):
    poll = await make_poll(dedupe_mode="verified")
    secret = (await admin.get("/v1/admin/sites/hoan-kiem")).json()["voter_secret"].encode()
    future = int(time.time()) + 600
    r = await vote(client, poll)
    assert (r.status_code, r.json()["error"]["code"]) == (400, "voter_required")
    forged = sign_voter(b"not-the-secret", "citizen-42", future)
    r = await vote(client, poll, voter=forged)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "bad_voter")
    expired = sign_voter(secret, "citizen-42", int(time.time()) - 5)
    r = await vote(client, poll, voter=expired)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "voter_expired")
    good = sign_voter(secret, "citizen-42", future)
    assert (await vote(client, poll, voter=good)).status_code == 201
    # Same citizen from another browser (another cookie): still one vote.
    assert (await vote(client, poll, voter=good)).status_code == 409


async def test_widget_token_is_single_use_and_can_be_required(client, admin, make_poll):
    poll = await make_poll()
    token = widget_token(SECRET.encode(), poll["id"])
    assert (await vote(client, poll, token=token)).status_code == 201
    reused = await vote(client, poll, token=token)
    assert (reused.status_code, reused.json()["error"]["field"]) == (409, "token")
    r = await vote(client, poll, token="123.abc.deadbeef")
    assert (r.status_code, r.json()["error"]["code"]) == (403, "bad_token")
    assert (
        await admin.patch("/v1/admin/sites/hoan-kiem", json={"require_widget_token": True})
    ).status_code == 200
    r = await vote(client, poll)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "token_required")
    fresh = widget_token(SECRET.encode(), poll["id"])
    assert (await vote(client, poll, token=fresh)).status_code == 201


async def test_origin_checks_on_browser_votes(client, make_poll):
    poll = await make_poll()
    allowed = await vote(client, poll, headers={"Origin": "https://portal.example.vn"})
    assert allowed.status_code == 201
    own = await vote(client, poll, headers={"Origin": "http://testserver"})
    assert own.status_code == 201
    evil = await vote(client, poll, headers={"Origin": "https://evil.example"})
    assert (evil.status_code, evil.json()["error"]["code"]) == (403, "bad_origin")
    blind = await vote(client, poll, headers={"Sec-Fetch-Site": "cross-site"})
    assert blind.status_code == 403


async def test_form_post_redirects_back_to_the_poll(client, make_poll, state):
    poll = await make_poll()
    option = poll["options"][1]["id"]
    form = {"choice": option, "page": "https://portal.example.vn/tin-tuc/bai-1?session=x"}
    r = await client.post(
        f"/v1/polls/{poll['id']}/votes?locale=en&wid=2",
        data=form,
        headers={"X-Forwarded-For": "203.0.113.9", "Cookie": "pv=form-voter-1"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/embed/{poll['id']}?locale=en&wid=2&state=voted"
    again = await client.post(
        f"/v1/polls/{poll['id']}/votes", data=form, headers={"Cookie": "pv=form-voter-1"}
    )
    assert again.headers["location"].endswith("state=already_voted")
    page = await state.pool.fetchval("SELECT page_url FROM votes WHERE poll_id = $1", poll["id"])
    assert page == "https://portal.example.vn/tin-tuc/bai-1"


@pytest.mark.parametrize(
    ("visibility", "before", "after_vote"),
    [
        ("always", 200, 200),
        ("after_vote", 403, 200),
        ("after_close", 403, 403),
        ("never", 403, 403),
    ],
)
async def test_results_visibility(client, make_poll, visibility, before, after_vote):
    poll = await make_poll(results_visibility=visibility)
    url = f"/v1/polls/{poll['id']}/results"
    r = await client.get(url, headers={"Cookie": "pv=visibility-voter"})
    assert r.status_code == before
    voted = await vote(client, poll, cookie="visibility-voter")
    assert (voted.json()["results"] is not None) == (visibility in ("always", "after_vote"))
    r = await client.get(url, headers={"Cookie": "pv=visibility-voter"})
    assert r.status_code == after_vote


async def test_admins_always_see_results(client, make_poll, make_token):
    poll = await make_poll(results_visibility="never")
    await vote(client, poll)
    token = await make_token(["polls:read"])
    r = await client.get(
        f"/v1/polls/{poll['id']}/results", headers={"Authorization": f"Bearer {token}"}
    )
    assert (r.status_code, r.json()["total"]) == (200, 1)
    r = await client.get(
        f"/v1/admin/polls/{poll['id']}/results", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.json()["ledger"]["total"] == 1


async def test_results_have_etag_and_short_public_cache(client, make_poll):
    poll = await make_poll()
    await vote(client, poll)
    r = await client.get(f"/v1/polls/{poll['id']}/results")
    assert r.headers["cache-control"] == "public, max-age=1"
    r2 = await client.get(
        f"/v1/polls/{poll['id']}/results", headers={"If-None-Match": r.headers["etag"]}
    )
    assert r2.status_code == 304


async def test_export_csv_and_json(admin, client, make_poll):
    poll = await make_poll()
    for _ in range(3):
        await vote(client, poll)
    csv_text = (await admin.get(f"/v1/admin/polls/{poll['id']}/export")).text
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("id,cast_at,option_ids") and len(lines) == 4
    jsonl = (await admin.get(f"/v1/admin/polls/{poll['id']}/export?format=json")).text
    assert len(jsonl.strip().splitlines()) == 3
    assert (await admin.get(f"/v1/admin/polls/{poll['id']}/export?format=xml")).status_code == 400


async def test_metrics_carry_per_poll_figures_and_latency(client, admin, make_poll):
    poll = await make_poll()
    voter = secrets.token_urlsafe(12)
    assert (await vote(client, poll, cookie=voter)).status_code == 201
    assert (await vote(client, poll, cookie=voter)).status_code == 409
    text = (await admin.get("/metrics")).text  # per-poll series need a token
    assert f'civicpoll_poll_votes_total{{outcome="accepted",poll="{poll["id"]}"}} 1.0' in text
    assert f'civicpoll_poll_votes_total{{outcome="duplicate",poll="{poll["id"]}"}} 1.0' in text
    assert "civicpoll_vote_seconds_bucket" in text


async def test_a_chunked_body_is_cut_off_at_the_limit(client, make_poll):
    poll = await make_poll()

    async def chunks():
        for _ in range(100):  # 100 KiB without a Content-Length
            yield b" " * 1024

    r = await client.post(
        f"/v1/polls/{poll['id']}/votes",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"
