"""The ballot policy: who the client is behind proxies, which bodies are refused and why,
signed voter ids, widget tokens, origins."""

from __future__ import annotations

import time

import httpx
import pytest

from service.core.errors import BadRequest, Forbidden
from service.identity.keys import Hasher
from service.identity.origin import check_origin
from service.identity.request import identify
from service.identity.tokens import sign_voter, widget_token
from service.voting.ballot import (
    build_ballot,
    checked_choices,
    idempotency_header,
    parse_vote_body,
    user_agent_family,
)
from service.voting.keys import VOTER_MARK_TTL
from tests.conftest import SECRET
from tests.voting.sample import sample_poll
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
    assert codes == [201, 201, 428, 428]


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


async def test_the_service_opened_at_another_address_may_vote_on_itself(client, make_poll, caplog):
    """PUBLIC_URL says testserver; the embed page opened at 127.0.0.1:8000 posts from there."""
    poll = await make_poll()
    here = {"Origin": "http://127.0.0.1:8000", "Host": "127.0.0.1:8000"}
    r = await vote(client, poll, headers=here)
    assert r.status_code == 201, r.text
    form = await client.post(
        f"/v1/polls/{poll['id']}/votes",
        content=f"choice={poll['options'][0]['id']}",
        headers={**here, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (form.status_code, form.headers["location"].endswith("state=voted")) == (303, True)
    # Every refusal says why in the log, naming the origin and never the reader's address.
    caplog.set_level("INFO", logger="civicpoll.ballot")
    foreign = {"Origin": "http://127.0.0.1:9000", "Host": "127.0.0.1:8000"}
    r = await vote(client, poll, ip="203.0.113.66", headers=foreign)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "bad_origin")
    blind = await vote(client, poll, ip="203.0.113.66", headers={"Sec-Fetch-Site": "cross-site"})
    assert blind.status_code == 403
    refusals = [rec for rec in caplog.records if rec.name == "civicpoll.ballot"]
    assert [(rec.reason, rec.origin, rec.poll_id) for rec in refusals] == [
        ("origin_not_allowed", "http://127.0.0.1:9000", poll["id"]),
        ("cross_site_without_origin", None, poll["id"]),
    ]
    assert all("203.0.113.66" not in str(vars(rec)) for rec in refusals)


async def test_json_sent_with_the_form_type_is_answered_in_json(client, make_poll):
    """curl -d sends JSON as application/x-www-form-urlencoded: read it as the JSON it is."""
    poll = await make_poll()
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    good = f'{{"choices": ["{poll["options"][0]["id"]}"]}}'
    r = await client.post(f"/v1/polls/{poll['id']}/votes", content=good, headers=form_type)
    assert (r.status_code, r.json()["status"]) == (201, "accepted")
    r = await client.post(
        f"/v1/polls/{poll['id']}/votes", content='{"choices": []}', headers=form_type
    )
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_choice_count")
    # Without any Content-Type a JSON body is JSON, too.
    r = await client.post(f"/v1/polls/{poll['id']}/votes", content='{"choice": 1}')
    assert (r.status_code, r.json()["error"]["field"]) == (400, "choice")
    # A real form post still goes back to the poll.
    r = await client.post(f"/v1/polls/{poll['id']}/votes", content="choice=", headers=form_type)
    assert r.status_code == 303 and "state=" in r.headers["location"]


# ---------------------------------------------------------------- the policy on plain values


def test_a_ballot_is_built_from_raw_headers_and_the_peer(settings) -> None:
    poll = sample_poll(dedupe_mode="cookie_ip", dedupe_window_hours=2)
    hasher = Hasher(settings.secret_key)
    headers = {
        b"x-forwarded-for": b"1.1.1.1, 203.0.113.7",
        b"idempotency-key": b"retry-1",
        b"referer": b"https://portal.example.vn/bai?utm=x",
        b"user-agent": b"Mozilla/5.0 Firefox/130.0",
    }
    body = parse_vote_body(b'{"choices": ["12"]}', is_form=False)
    who = identify(headers, list(headers.items()), "127.0.0.1", "http", settings.trusted_proxies)
    ballot = build_ballot(headers, who, settings, hasher, poll, body, "cookie-voter-1")
    ip_hash = hasher(poll.id, "ip", "203.0.113.7")
    assert ballot.choices == ("12",)
    assert ballot.voter_hash == ballot.voter_key == hasher(poll.id, "voter", "cookie-voter-1")
    assert ballot.ip_hash == ip_hash and ballot.ip_key is not None
    assert ballot.ip_key.startswith(ip_hash + ":")
    assert ballot.network_hash == hasher(poll.id, "net", "203.0.113.0/24")
    assert (ballot.voter_mark_ttl, ballot.ip_mark_ttl) == (VOTER_MARK_TTL, 2 * 3600)
    assert ballot.limited
    assert ballot.idempotency_key == hasher(poll.id, "idem", "retry-1")
    assert (ballot.page_url, ballot.user_agent) == ("https://portal.example.vn/bai", "Firefox")
    # An untrusted peer's X-Forwarded-For is ignored; an allowlisted network is not limited.
    who = identify(headers, list(headers.items()), "192.0.2.5", "http", settings.trusted_proxies)
    other = build_ballot(headers, who, settings, hasher, poll, body, "cookie-voter-1")
    assert other.ip_hash == hasher(poll.id, "ip", "192.0.2.5") and not other.limited


def test_the_form_body_reads_like_the_json_one() -> None:
    form = parse_vote_body(b"choice=11&choice=13&token=t.n.m&page=https%3A%2F%2Fa.vn&x=1", True)
    json = parse_vote_body(
        b'{"choices": ["11", "13"], "token": "t.n.m", "page": "https://a.vn"}', False
    )
    assert form == json


def test_choices_origins_and_idempotency_keys_are_checked() -> None:
    poll = sample_poll(kind="multiple", max_choices=2)
    assert checked_choices(poll, ["13", "11"]) == ("13", "11")
    for choices, code in ((["11", "11"], "invalid"), ([], "invalid_choice_count")):
        with pytest.raises(BadRequest) as refused:
            checked_choices(poll, choices)
        assert refused.value.code == code
    with pytest.raises(BadRequest, match="not an option"):
        checked_choices(poll, ["99"])

    own = "http://testserver"
    site = (poll.site.allowed_origins, (poll.id, poll.site.slug))
    check_origin({b"origin": b"https://portal.example.vn"}, own, "http", *site)
    check_origin({b"origin": b"http://testserver"}, own, "http", *site)
    check_origin({}, own, "http", *site)  # a server-side client
    # The service's own page, opened at another of its addresses than PUBLIC_URL's.
    here = {b"origin": b"http://127.0.0.1:8000", b"host": b"127.0.0.1:8000"}
    check_origin(here, own, "http", *site)
    for literal in (b"localhost:8000", b"[::1]:8000", b"10.0.0.5"):
        check_origin({b"origin": b"http://" + literal, b"host": literal}, own, "http", *site)
    for headers, scheme in (
        ({b"origin": b"https://evil.example"}, "http"),
        ({b"sec-fetch-site": b"cross-site"}, "http"),
        ({b"origin": b"http://127.0.0.1:8000", b"host": b"testserver"}, "http"),
        (here, "https"),  # another scheme is another origin
        # A name pointed at our address by DNS rebinding: its own Origin and Host match.
        ({b"origin": b"http://rebound.example", b"host": b"rebound.example"}, "http"),
    ):
        with pytest.raises(Forbidden):
            check_origin(headers, own, scheme, *site)

    assert idempotency_header({}) is None
    assert idempotency_header({b"idempotency-key": b"k-1"}) == "k-1"
    for bad in (b"", b"x" * 201, b"tab\there", "khóa".encode()):
        with pytest.raises(BadRequest):
            idempotency_header({b"idempotency-key": bad})


@pytest.mark.parametrize(
    ("agent", "family"),
    [
        (None, None),
        (b"", None),
        (b"Googlebot/2.1", "bot"),
        (b"curl/8.5", "curl"),
        (b"python-httpx/0.27", "script"),
        (b"Mozilla/5.0 Chrome/126.0 Edg/126.0", "Edge"),
        (b"Mozilla/5.0 Chrome/126.0 Safari/537.36", "Chrome"),
        (b"Mozilla/5.0 Version/17.5 Safari/605.1.15", "Safari"),
        (b"Lynx/2.9", "other"),
    ],
)
def test_user_agent_families(agent: bytes | None, family: str | None) -> None:
    assert user_agent_family(agent) == family
