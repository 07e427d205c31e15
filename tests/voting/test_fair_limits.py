"""Fair limits against the real PostgreSQL and Redis: over a limit a vote is challenged,
a solution counts once, beyond the solved budget (or on a signal) a vote is held, held
votes are disclosed and reviewed, and IPv6 groups by /64."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
from altcha.v1 import solve_challenge

from service.voting.counts import ensure_epoch
from service.voting.keys import EPOCH, EPOCH_REBUILDING
from tests.conftest import PollMaker
from tests.voting.voter import ledger_total, vote
from tests.widget.embedding import form_vote, fresh_token

# Easy proofs (a thousand hashes at most) and no signals unless a test turns one on.
QUIET = {"difficulty": 1000, "flood_min_votes": 100_000, "regular_min_votes": 100_000}


async def limit_site(admin: httpx.AsyncClient, **limits: Any) -> None:
    r = await admin.patch(
        "/v1/admin/sites/hoan-kiem",
        json={
            "rate_per_ip_per_minute": 1,
            "burst_per_ip": 1,
            "rate_per_network_per_minute": 10_000,
            "burst_per_network": 10_000,
            "limits": {**QUIET, **limits},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["limits"]["difficulty"] == limits.get("difficulty", 1000)


def solved(challenge: dict[str, Any], number: int | None = None) -> str:
    """The ALTCHA payload a client sends: the number found, beside the challenge."""
    found = solve_challenge(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxnumber"]
    )
    assert found is not None
    payload = {
        "algorithm": challenge["algorithm"],
        "challenge": challenge["challenge"],
        "number": found.number if number is None else number,
        "salt": challenge["salt"],
        "signature": challenge["signature"],
    }
    return base64.b64encode(json.dumps(payload).encode()).decode()


async def challenged(client: httpx.AsyncClient, poll: dict[str, Any], ip: str) -> dict[str, Any]:
    r = await vote(client, poll, ip=ip)
    assert r.status_code == 428, r.text
    body = r.json()
    assert body["error"]["code"] == "challenge_required"
    assert body["error"]["field"] == "altcha"
    challenge: dict[str, Any] = body["challenge"]
    return challenge


async def lose_redis(state: Any) -> None:
    """Redis restarts empty; the counts come back from the ledger (the app's maintenance
    may notice first and rebuild itself: either way, wait for the epoch mark)."""
    await state.redis.flushdb()
    await ensure_epoch(state.pool, state.redis, state.engine.quiesce)
    for _ in range(200):
        if await state.redis.exists(EPOCH) and not await state.redis.exists(EPOCH_REBUILDING):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the counts were not rebuilt")
    state.counts._entries.clear()


async def solved_votes(
    client: httpx.AsyncClient, poll: dict[str, Any], ip: str, n: int
) -> list[int]:
    """The statuses of `n` votes from `ip`, each challenged and then sent solved."""
    codes = []
    for _ in range(n):
        proof = solved(await challenged(client, poll, ip))
        codes.append((await vote(client, poll, ip=ip, altcha=proof)).status_code)
    return codes


async def results(client: httpx.AsyncClient, poll: dict[str, Any]) -> dict[str, Any]:
    r = await client.get(f"/v1/polls/{poll['id']}/results")
    assert r.status_code == 200
    found: dict[str, Any] = r.json()
    return found


async def states(state: Any, poll: dict[str, Any]) -> list[tuple[str, str | None]]:
    rows = await state.pool.fetch(
        "SELECT state, hold_reason FROM votes WHERE poll_id = $1 ORDER BY cast_at, id", poll["id"]
    )
    return [(r["state"], r["hold_reason"]) for r in rows]


async def test_over_the_limit_a_vote_is_challenged_and_a_solution_counts_once(
    client, admin, make_poll: PollMaker, state
):
    await limit_site(admin)
    poll, other = await make_poll(), await make_poll()
    ip = "198.51.100.20"
    assert (await vote(client, poll, ip=ip)).status_code == 201
    challenge = await challenged(client, poll, ip)
    assert set(challenge) == {"algorithm", "challenge", "maxnumber", "salt", "signature"}
    assert challenge["algorithm"] == "SHA-256" and challenge["maxnumber"] == 1000
    assert f"poll={poll['id']}" in challenge["salt"]
    assert await ledger_total(state, poll["id"]) == 1  # a challenge stores nothing

    payload = solved(challenge)
    r = await vote(client, poll, ip=ip, altcha=payload)
    assert r.status_code == 201, r.text
    assert r.json()["results"]["total"] == 2
    # The same solution again, by another voter: single use.
    again = await vote(client, poll, ip=ip, altcha=payload)
    assert again.status_code == 409
    assert (again.json()["error"]["code"], again.json()["error"]["field"]) == (
        "proof_reused",
        "altcha",
    )
    # A wrong number, and a solution of another poll's challenge, are refused.
    fresh = await challenged(client, poll, ip)
    wrong = solved(fresh, number=fresh["maxnumber"] + 1)
    bad = await vote(client, poll, ip=ip, altcha=wrong)
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "bad_proof"
    assert (await vote(client, other, ip=ip)).status_code == 201
    elsewhere = solved(await challenged(client, other, ip))
    bad = await vote(client, poll, ip=ip, altcha=elsewhere)
    assert bad.status_code == 403 and bad.json()["error"]["field"] == "altcha"
    # Not a payload at all is bad input (400), not a wrong proof (403).
    garbage = await vote(client, poll, ip=ip, altcha="not-base64-json")
    assert garbage.status_code == 400 and garbage.json()["error"]["field"] == "altcha"
    assert await ledger_total(state, poll["id"]) == 2
    figures = (await admin.get(f"/v1/admin/polls/{poll['id']}/integrity")).json()
    assert figures["challenged"] == 2 and figures["solved"] == 1 and figures["held"] == 0


async def test_difficulty_rises_with_the_pressure(client, admin, make_poll: PollMaker):
    await limit_site(admin)
    poll = await make_poll()
    ip = "198.51.100.21"
    assert (await vote(client, poll, ip=ip)).status_code == 201
    first = await challenged(client, poll, ip)
    for _ in range(120):
        last = await challenged(client, poll, ip)
    assert first["maxnumber"] == 1000 and last["maxnumber"] == 2000


async def test_beyond_the_budget_votes_are_held_disclosed_and_released_once(
    client, admin, make_poll: PollMaker, state
):
    await limit_site(admin, solved_burst_per_ip=1, solved_per_ip_per_minute=1)
    poll = await make_poll()
    first_option = poll["options"][0]["id"]
    ip = "198.51.100.22"
    assert (await vote(client, poll, ip=ip)).status_code == 201
    counted = await vote(client, poll, ip=ip, altcha=solved(await challenged(client, poll, ip)))
    assert counted.status_code == 201
    held = await vote(client, poll, ip=ip, altcha=solved(await challenged(client, poll, ip)))
    assert held.status_code == 202, held.text
    assert held.json()["status"] == "held"
    assert held.json()["message"] == (
        "Bình chọn của bạn đã được ghi nhận và sẽ được tính sau khi xem xét."
    )

    shown = await results(client, poll)
    assert (shown["total"], shown["held"]) == (2, 1)
    assert await states(state, poll) == [("counted", None)] * 2 + [("held", "budget")]

    listed = (await admin.get(f"/v1/admin/polls/{poll['id']}/held")).json()
    assert listed["total"] == 1
    (group,) = listed["groups"]
    assert group["reason"] == "budget" and group["count"] == 1
    (held_vote,) = group["votes"]
    assert held_vote["choices"] == [first_option]

    r = await admin.post(
        f"/v1/admin/polls/{poll['id']}/held/release", json={"ids": [held_vote["id"]]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["released"] == 1 and r.json()["counts_refreshed"] is True
    shown = await results(client, poll)
    assert (shown["total"], shown["held"], shown["options"][0]["votes"]) == (3, 0, 3)
    # Released twice is released once.
    r = await admin.post(f"/v1/admin/polls/{poll['id']}/held/release", json={"all": True})
    assert r.json()["released"] == 0
    # Redis loses everything; the rebuild from the ledger counts the release once more only.
    await lose_redis(state)
    shown = await results(client, poll)
    assert (shown["total"], shown["held"]) == (3, 0)

    trail = (await admin.get(f"/v1/admin/polls/{poll['id']}/audit")).json()["items"]
    release = [t for t in trail if t["action"] == "release_held"]
    assert [t["after"]["votes"] for t in release] == [1, 0]
    assert release[0]["after"]["ids"] == [held_vote["id"]]
    await state.tally.flush()
    figures = (await admin.get(f"/v1/admin/polls/{poll['id']}/integrity")).json()
    # The stats hash went with Redis's memory; the release after it is still there.
    assert figures["ledger_votes"] == 3


async def test_discarded_votes_stay_in_the_ledger_out_of_the_tally(
    client, admin, make_poll: PollMaker, state
):
    await limit_site(admin, solved_burst_per_ip=1, solved_per_ip_per_minute=1)
    poll = await make_poll()
    ip = "198.51.100.23"
    assert (await vote(client, poll, ip=ip)).status_code == 201
    assert await solved_votes(client, poll, ip, 3) == [201, 202, 202]
    assert (await results(client, poll))["held"] == 2
    bad = await admin.post(f"/v1/admin/polls/{poll['id']}/held/discard", json={})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "ids"
    r = await admin.post(f"/v1/admin/polls/{poll['id']}/held/discard", json={"all": True})
    assert r.status_code == 200 and r.json()["discarded"] == 2
    shown = await results(client, poll)
    assert (shown["total"], shown["held"]) == (2, 0)
    assert [s for s, _ in await states(state, poll)] == ["counted"] * 2 + ["discarded"] * 2
    export = await admin.get(f"/v1/admin/polls/{poll['id']}/export?format=json")
    rows = [json.loads(line) for line in export.text.splitlines()]
    assert [(r["state"], r["hold_reason"]) for r in rows][2:] == [("discarded", "budget")] * 2
    await lose_redis(state)
    shown = await results(client, poll)
    assert (shown["total"], shown["held"]) == (2, 0)
    figures = (await admin.get(f"/v1/admin/polls/{poll['id']}/integrity")).json()
    assert figures["ledger_votes"] == 4
    # The held are in the rebuild too: hold one more (the limiter forgot the address with
    # the rest of Redis: its budgets start afresh), then lose Redis.
    assert (await vote(client, poll, ip=ip)).status_code == 201
    codes = [
        (
            await vote(client, poll, ip=ip, altcha=solved(await challenged(client, poll, ip)))
        ).status_code
        for _ in range(2)
    ]
    assert codes == [201, 202]
    await lose_redis(state)
    assert (await results(client, poll))["held"] == 1


async def test_the_no_script_form_over_the_limit_is_held_with_its_message(
    client, admin, make_poll: PollMaker, state
):
    await limit_site(admin)
    poll = await make_poll(dedupe_mode="none")
    option = poll["options"][1]["id"]
    first = await form_vote(client, poll["id"], [option])
    assert first.status_code == 303 and "state=voted" in first.headers["location"]
    second = await form_vote(client, poll["id"], [option])
    assert second.status_code == 303, second.text
    assert "state=held" in second.headers["location"]
    page = await client.get(second.headers["location"])
    assert "sẽ được tính sau khi xem xét" in page.text
    assert "1 lượt bình chọn đang chờ xem xét" in page.text
    assert await states(state, poll) == [("counted", None), ("held", "no_script")]


async def test_tokenless_votes_on_an_embedded_poll_are_held(
    client, admin, make_poll: PollMaker, state
):
    await limit_site(admin, tokened_min_votes=1)
    poll = await make_poll()
    # Before the poll takes a widget vote, a script's vote counts as an API client's.
    assert (await vote(client, poll, ip="198.51.100.30")).status_code == 201
    ip = "198.51.100.24"
    widget = await vote(client, poll, ip=ip, token=await fresh_token(client, poll["id"]))
    assert widget.status_code == 201
    # Now its site embeds the widget: a vote without a token is held at any rate...
    plain = await vote(client, poll, ip="198.51.100.31")
    assert plain.status_code == 202, plain.text
    held = await vote(client, poll, ip=ip, altcha=solved(await challenged(client, poll, ip)))
    assert held.status_code == 202
    # ...and one with a token counts, also with a solved proof.
    with_token = await vote(
        client,
        poll,
        ip=ip,
        token=await fresh_token(client, poll["id"]),
        altcha=solved(await challenged(client, poll, ip)),
    )
    assert with_token.status_code == 201
    assert await states(state, poll) == [
        ("counted", None),
        ("counted", None),
        ("held", "no_token"),
        ("held", "no_token"),
        ("counted", None),
    ]
    # A site whose API clients vote turns the signal off.
    await limit_site(admin, tokened_min_votes=1, hold_tokenless=False)
    assert (await vote(client, poll, ip="198.51.100.32")).status_code == 201


async def test_one_browser_flooding_one_option_is_held(client, admin, make_poll: PollMaker, state):
    await limit_site(admin, flood_min_votes=3, flood_share_percent=80)
    poll = await make_poll(dedupe_mode="none")
    ip = "198.51.100.25"
    assert (await vote(client, poll, ip=ip)).status_code == 201
    codes = []
    for _ in range(4):
        r = await vote(client, poll, ip=ip, altcha=solved(await challenged(client, poll, ip)))
        codes.append(r.status_code)
    # Each round is two attempts over the limit (challenge, solution) for one option by
    # one browser family: from the third attempt on, a flood.
    assert codes == [201, 202, 202, 202]
    assert [r for _, r in await states(state, poll)][2:] == ["flood"] * 3
    # The flooding address lost its free budget for the signal window: with the plain
    # limit raised far above its rate, its plain vote is still asked for work; another
    # address's is not.
    r = await admin.patch(
        "/v1/admin/sites/hoan-kiem", json={"rate_per_ip_per_minute": 1000, "burst_per_ip": 1000}
    )
    assert r.status_code == 200
    assert (await vote(client, poll, ip=ip)).status_code == 428
    assert (await vote(client, poll, ip="198.51.100.26")).status_code == 201


async def test_ipv6_groups_by_64_and_ipv4_by_address(client, admin, make_poll: PollMaker):
    await limit_site(admin)
    poll = await make_poll(dedupe_mode="none")
    assert (await vote(client, poll, ip="2001:db8:1:2::1")).status_code == 201
    # Another address of the same /64 is the same subscriber: over its limit.
    assert (await vote(client, poll, ip="2001:db8:1:2:ffff:0:0:9")).status_code == 428
    assert (await vote(client, poll, ip="2001:db8:1:3::1")).status_code == 201
    assert (await vote(client, poll, ip="203.0.113.1")).status_code == 201
    assert (await vote(client, poll, ip="203.0.113.2")).status_code == 201
    assert (await vote(client, poll, ip="203.0.113.2")).status_code == 428


async def test_a_retried_solved_vote_is_a_replay_not_a_reused_proof(
    client, admin, make_poll: PollMaker, state
):
    await limit_site(admin)
    poll = await make_poll()
    ip = "198.51.100.27"
    assert (await vote(client, poll, ip=ip)).status_code == 201
    payload = solved(await challenged(client, poll, ip))
    key = {"Idempotency-Key": "solved-retry-1"}
    first = await vote(client, poll, cookie="retrier-0001", ip=ip, headers=key, altcha=payload)
    again = await vote(client, poll, cookie="retrier-0001", ip=ip, headers=key, altcha=payload)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["replayed"] is True
    assert await ledger_total(state, poll["id"]) == 2


async def test_one_option_flooding_in_rotating_disguises_is_held(
    client, admin, make_poll: PollMaker, state
):
    await limit_site(admin, flood_min_votes=4, flood_share_percent=80, skew_points=40)
    poll = await make_poll(dedupe_mode="none")
    favourite, pushed = poll["options"][0]["id"], poll["options"][1]["id"]
    for i in range(6):  # the poll's readers mostly choose the first option
        assert (await vote(client, poll, favourite, ip=f"198.51.{i}.40")).status_code == 201
    ip = "198.51.100.28"
    browsers = ["Chrome/131", "Firefox/133", "Safari/604", "Edg/131"]
    codes = []
    for round_ in range(4):
        ua = {"User-Agent": browsers[round_]}
        first = await vote(client, poll, pushed, ip=ip, headers=ua)
        if first.status_code == 201:
            codes.append(201)
            continue
        assert first.status_code == 428
        proof = solved(first.json()["challenge"])
        again = await vote(client, poll, pushed, ip=ip, headers=ua, altcha=proof)
        codes.append(again.status_code)
    # No one browser family floods (each is a quarter); the option does: every attempt
    # over the limit is for it, against a sixth of the poll's tally.
    assert codes == [201, 201, 202, 202]
    assert [r for _, r in await states(state, poll)][-2:] == ["flood", "flood"]


def raw_payload(value: Any) -> str:
    """An ALTCHA field carrying `value` as its JSON, base64 encoded as the real one is."""
    return base64.b64encode(json.dumps(value).encode()).decode()


async def test_a_malformed_payload_is_refused_naming_its_part(client, admin, make_poll: PollMaker):
    """Shapes the altcha library once choked on (500): each is a 400 naming the part."""
    await limit_site(admin)
    poll = await make_poll()
    assert (await vote(client, poll, ip="198.51.100.29")).status_code == 201
    real = json.loads(base64.b64decode(solved(await challenged(client, poll, "198.51.100.29"))))
    shapes = {
        "altcha.salt": [{**real, "salt": []}, {**real, "salt": 5}, {**real, "salt": {}}],
        "altcha.number": [{**real, "number": "1"}, {**real, "number": -1}],
        "altcha.signature": [{**real, "signature": "f" * 200}, {**real, "signature": "xyz"}],
        "altcha.algorithm": [{**real, "algorithm": "MD5"}],
        "altcha.challenge": [{k: v for k, v in real.items() if k != "challenge"}],
        "altcha": [5, None, True, [], "salt", {**real, "salt": "x" * 5000}],
    }
    for field, values in shapes.items():
        for value in values:
            r = await vote(client, poll, ip="198.51.100.29", altcha=raw_payload(value))
            assert r.status_code == 400, (value, r.text)
            assert r.json()["error"]["field"] == field, (value, r.json())


async def test_a_vote_answered_503_keeps_its_proof(client, admin, make_poll: PollMaker, state):
    """The ledger refuses every write (a real PostgreSQL error): the solved vote is
    answered 503 and its proof is given back, so the reader's retry with the same solution
    counts; once counted, the solution is spent."""
    await limit_site(admin)
    poll = await make_poll()
    ip = "198.51.100.33"
    assert (await vote(client, poll, ip=ip)).status_code == 201
    payload = solved(await challenged(client, poll, ip))
    await state.pool.execute(
        "ALTER TABLE votes ADD CONSTRAINT ledger_fault CHECK (false) NOT VALID"
    )
    try:
        down = await vote(client, poll, cookie="patient-reader", ip=ip, altcha=payload)
    finally:
        await state.pool.execute("ALTER TABLE votes DROP CONSTRAINT ledger_fault")
    assert down.status_code == 503, down.text
    retried = await vote(client, poll, cookie="patient-reader", ip=ip, altcha=payload)
    assert retried.status_code == 201, retried.text
    again = await vote(client, poll, ip=ip, altcha=payload)
    assert again.status_code == 409 and again.json()["error"]["code"] == "proof_reused"
    await state.tally.flush()
    figures = (await admin.get(f"/v1/admin/polls/{poll['id']}/integrity")).json()
    assert (figures["solved"], figures["failed"], figures["accepted"]) == (1, 1, 2)


async def test_a_spent_proof_stays_spent_when_redis_forgets(
    client, admin, make_poll: PollMaker, state
):
    await limit_site(admin)
    poll = await make_poll()
    ip = "198.51.100.34"
    assert (await vote(client, poll, ip=ip)).status_code == 201
    payload = solved(await challenged(client, poll, ip))
    assert (await vote(client, poll, ip=ip, altcha=payload)).status_code == 201
    # Redis restarts empty; the rebuild restores the proof's mark from the ledger.
    await lose_redis(state)
    assert (await vote(client, poll, ip=ip)).status_code == 201  # the limiter forgot too
    again = await vote(client, poll, ip=ip, altcha=payload)
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "proof_reused"
    # Redis forgets again, and this time nothing rebuilds (the epoch mark is put back at
    # once): the ledger's own key refuses the proof a second time.
    await state.redis.flushdb()
    await state.redis.set(EPOCH, 1)
    assert (await vote(client, poll, ip=ip)).status_code == 201
    refused = await vote(client, poll, ip=ip, altcha=payload)
    assert refused.status_code == 409, refused.text
    spent = await state.pool.fetchval(
        "SELECT count(*) FROM votes WHERE poll_id = $1 AND proof_key IS NOT NULL", poll["id"]
    )
    assert spent == 1
    assert await ledger_total(state, poll["id"]) == 4


async def test_integrity_figures_come_back_from_the_ledger(
    client, admin, make_poll: PollMaker, state
):
    """accepted, held, released, discarded and solved are what the ledger's rows say, so
    a Redis restart (empty) does not zero them."""
    await limit_site(admin, solved_burst_per_ip=1, solved_per_ip_per_minute=1)
    poll = await make_poll()
    ip = "198.51.100.35"
    assert (await vote(client, poll, ip=ip)).status_code == 201
    assert await solved_votes(client, poll, ip, 3) == [201, 202, 202]
    listed = (await admin.get(f"/v1/admin/polls/{poll['id']}/held")).json()
    first, second = (v["id"] for g in listed["groups"] for v in g["votes"])
    url = f"/v1/admin/polls/{poll['id']}/held"
    assert (await admin.post(f"{url}/release", json={"ids": [first]})).status_code == 200
    assert (await admin.post(f"{url}/discard", json={"ids": [second]})).status_code == 200
    names = ("accepted", "held", "released", "discarded", "solved")

    async def figures() -> dict[str, int]:
        await state.tally.flush()
        found = (await admin.get(f"/v1/admin/polls/{poll['id']}/integrity")).json()
        return {name: found[name] for name in names}

    before = await figures()
    assert before == {"accepted": 2, "held": 2, "released": 1, "discarded": 1, "solved": 3}
    await lose_redis(state)
    assert await figures() == before


async def test_a_used_widget_token_and_the_embedded_signal_survive_redis_forgetting(
    client, admin, make_poll: PollMaker, state
):
    await limit_site(admin, tokened_min_votes=1)
    poll = await make_poll(dedupe_mode="none")
    token = await fresh_token(client, poll["id"])
    assert (await vote(client, poll, ip="198.51.100.36", token=token)).status_code == 201
    assert (await vote(client, poll, ip="198.51.100.37")).status_code == 202  # embedded
    await lose_redis(state)
    # Still embedded: a tokenless vote is held; and the token stays used.
    assert (await vote(client, poll, ip="198.51.100.38")).status_code == 202
    again = await vote(client, poll, ip="198.51.100.39", token=token)
    assert again.status_code == 409 and again.json()["error"]["field"] == "token"
