"""The engine against real PostgreSQL and Redis, through the vote route: exact counting
under concurrency, the ledger row, de-duplication modes, rate limits, idempotency."""

from __future__ import annotations

import asyncio
import time

from service.identity.keys import Hasher
from service.voting.keys import idempotency_key
from service.voting.results import read_counts
from tests.conftest import PollMaker
from tests.voting.voter import ledger_total, vote


async def test_500_concurrent_distinct_voters_count_exactly(client, make_poll: PollMaker, state):
    poll = await make_poll()
    options = [o["id"] for o in poll["options"]]

    async def voter(i: int) -> int:
        # A 503 (the vote path's budget, spent when a loaded machine starves Redis or
        # PostgreSQL) tells the voter to try again: the retry, as the same voter, must be
        # counted, so a 503 left no mark behind. Bounded: a vote path that never
        # recovers fails the test.
        for _ in range(20):
            r = await vote(
                client,
                poll,
                options[i % 3],
                cookie=f"voter-{i:04d}",
                ip=f"10.1.{i // 250}.{i % 250}",
            )
            if r.status_code != 503:
                return r.status_code
        return 503

    answers = await asyncio.gather(*(voter(i) for i in range(500)))
    assert answers == [201] * 500
    results = (await client.get(f"/v1/polls/{poll['id']}/results")).json()
    assert results["total"] == 500
    assert [o["votes"] for o in results["options"]] == [167, 167, 166]
    # Equal counts show equal shares: 33.4% and 33.2% are all 33% (the sum is 99).
    assert [o["percent"] for o in results["options"]] == [33, 33, 33]
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
    # Over the limit a vote is asked for a proof of work, not refused (tests/voting/
    # test_fair_limits.py follows it further).
    assert codes.count(428) == 13
    limited = next(r for r in answers if r.status_code == 428)
    assert limited.json()["error"]["code"] == "challenge_required"
    assert limited.json()["challenge"]["maxnumber"] >= 20_000
    # A neighbour on the same /24 has its own per-IP budget.
    assert (await vote(admin, poll, ip="198.51.100.10")).status_code == 201


async def test_network_limit_and_allowlist(admin, make_poll: PollMaker):
    r = await admin.patch(
        "/v1/admin/sites/hoan-kiem", json={"rate_per_network_per_minute": 1, "burst_per_network": 3}
    )
    assert r.status_code == 200, r.text
    poll = await make_poll()
    codes = [(await vote(admin, poll, ip=f"192.0.2.{i}")).status_code for i in range(1, 6)]
    assert codes == [201, 201, 201, 428, 428]
    # A school behind one address: its network is exempt from the limits.
    r = await admin.patch(
        "/v1/admin/sites/hoan-kiem", json={"allowlisted_networks": ["192.0.2.0/24"]}
    )
    assert r.status_code == 200, r.text
    codes = [(await vote(admin, poll, ip=f"192.0.2.{i}")).status_code for i in range(10, 15)]
    assert codes == [201] * 5


async def test_idempotent_retry_counts_once_and_answers_the_same(client, make_poll, state):
    poll = await make_poll()
    key = {"Idempotency-Key": "retry-7f3a"}
    first = await vote(client, poll, cookie="voter-aaaa", headers=key)
    again = await vote(client, poll, cookie="voter-aaaa", headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["replayed"] is True
    assert first.json()["replayed"] is False
    assert await ledger_total(state, poll["id"]) == 1
    results = (await client.get(f"/v1/polls/{poll['id']}/results")).json()
    assert results["total"] == 1


async def test_an_idempotency_key_reused_for_another_request_is_refused(client, make_poll, state):
    """Stripe's rule: a key names one request. Sent again with other choices, or by
    another voter, it is a client's bug, not a retry: 422, nothing echoed or counted."""
    poll = await make_poll()
    first_option, second_option = (o["id"] for o in poll["options"][:2])
    key = {"Idempotency-Key": "reused-91c2"}
    assert (
        await vote(client, poll, first_option, cookie="voter-one", headers=key)
    ).status_code == 201
    for other in (
        await vote(client, poll, second_option, cookie="voter-one", headers=key),
        await vote(client, poll, first_option, cookie="voter-two", headers=key),
    ):
        assert other.status_code == 422, other.text
        assert other.json()["error"]["code"] == "idempotency_key_reused"
        assert other.json()["error"]["field"] == "Idempotency-Key"
    # The true retry still gets its first answer, and the second voter may still vote.
    again = await vote(client, poll, first_option, cookie="voter-one", headers=key)
    assert again.status_code == 201 and again.json()["replayed"] is True
    assert (await vote(client, poll, second_option, cookie="voter-two")).status_code == 201
    assert await ledger_total(state, poll["id"]) == 2


async def test_a_reused_key_is_refused_by_the_ledger_when_redis_forgot_it(client, make_poll, state):
    poll = await make_poll()
    key = {"Idempotency-Key": "forgotten-5e1d"}
    assert (await vote(client, poll, cookie="voter-three", headers=key)).status_code == 201
    marks = [k async for k in state.redis.scan_iter(match=idempotency_key(poll["id"], "*"))]
    await state.redis.delete(*marks)
    other = await vote(client, poll, cookie="voter-four", headers=key)
    assert other.status_code == 422, other.text
    # Its voter was not marked as having voted: a fresh request of theirs counts.
    assert (await vote(client, poll, cookie="voter-four")).status_code == 201
    assert await ledger_total(state, poll["id"]) == 2
    live = await read_counts(state.redis, poll["id"])
    assert sum(live.values()) == 2


async def test_replays_count_against_the_rate_limit(admin, make_poll: PollMaker):
    r = await admin.patch(
        "/v1/admin/sites/hoan-kiem", json={"rate_per_ip_per_minute": 1, "burst_per_ip": 2}
    )
    assert r.status_code == 200, r.text
    poll = await make_poll()
    key = {"Idempotency-Key": "replay-flood-1"}
    codes = [
        (
            await vote(admin, poll, cookie="flooder-0001", ip="198.51.100.77", headers=key)
        ).status_code
        for _ in range(4)
    ]
    assert codes == [201, 201, 428, 428]


async def test_the_challenge_names_the_limit_that_tripped(admin, make_poll: PollMaker):
    r = await admin.patch(
        "/v1/admin/sites/hoan-kiem",
        json={
            "rate_per_ip_per_minute": 1,
            "burst_per_ip": 1,
            "rate_per_network_per_minute": 1,
            "burst_per_network": 2,
        },
    )
    assert r.status_code == 200, r.text
    poll = await make_poll()
    assert (await vote(admin, poll, ip="192.0.2.40")).status_code == 201
    by_address = await vote(admin, poll, ip="192.0.2.40")
    assert by_address.status_code == 428
    assert "your address" in by_address.json()["error"]["message"]
    assert by_address.json()["error"]["field"] == "altcha"
    assert (await vote(admin, poll, ip="192.0.2.41")).status_code == 201
    by_network = await vote(admin, poll, ip="192.0.2.42")
    assert by_network.status_code == 428
    assert "your network" in by_network.json()["error"]["message"]


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


def test_a_rate_above_the_limiters_resolution_keeps_the_limit_on() -> None:
    """A site stored with more than 60,000 votes a minute (before the admin API capped
    it) must not get a 0 ms interval, which would switch its limit off."""
    from service.voting.engine import _decide_head
    from tests.voting.sample import sample_ballot, sample_poll

    poll = sample_poll(site_rate_per_network_per_minute=100_000, site_rate_per_ip_per_minute=90_000)
    head = _decide_head(sample_ballot(poll))
    assert head.network_interval_ms == 1 and head.ip_interval_ms == 1
