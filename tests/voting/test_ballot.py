"""The ballot policy: who the client is behind proxies, which bodies are refused and why,
signed voter ids, widget tokens, origins."""

from __future__ import annotations

import time

import httpx

from service.voting.identity import sign_voter, widget_token
from tests.conftest import SECRET
from tests.voting.voter import vote


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
